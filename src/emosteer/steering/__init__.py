"""Steering: the bin grid, per-bin signals from training clips, signal selection per clip."""
