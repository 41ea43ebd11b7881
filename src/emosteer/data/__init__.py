"""Data in: front end, synthetic set, Emo-Soundscapes, the features HDF5, the split."""
