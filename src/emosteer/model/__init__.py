"""The model: Cnn6 with LRM feedback (lrm), checkpoints, training, batched inference, activations."""
