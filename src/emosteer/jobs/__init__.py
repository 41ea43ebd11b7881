"""The jobs layer: turns params.yaml and the pipeline's file layout into plain arguments for the
domain rooms (data, model, steering, evaluation), and their results back into files.

Only this room, the stages and the commands import `emosteer.schema.params` and `emosteer.pipeline`; the
rooms below take arrays, dataclasses, numbers and paths they are handed (tests/test_layers.py).
"""
