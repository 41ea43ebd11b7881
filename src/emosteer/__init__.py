"""emosteer: PANNs Cnn6 valence/arousal regression with LRM feedback and bin steering."""

__version__ = "0.1.0"
