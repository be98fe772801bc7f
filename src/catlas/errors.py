"""The one exception type catlas raises for bad input; the CLI prints it as one line."""


class CatlasError(Exception):
    """A user-facing error: the message names the file (if any) and the problem."""
