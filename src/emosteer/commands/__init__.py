"""The commands: one module per `emosteer` subcommand, each with its argparse half (`register`),
and the console script's entry point (`cli`). A command turns flags and files into calls of the
rooms and the jobs layer below it; nothing below imports a command (tests/test_layers.py)."""
