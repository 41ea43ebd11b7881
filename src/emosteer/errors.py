"""The one exception type emosteer raises for bad input.

Raise it where the problem is known, naming the file, the field and the first bad index; the CLI
and the pipeline stages turn it into one line on stderr and a non-zero exit.
"""


class EmosteerError(Exception):
    """Bad input or configuration; the message is one complete line for the user."""
