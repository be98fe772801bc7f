"""The one exception type catlas raises for bad input; the CLI prints it as one line."""


class CatlasError(Exception):
    """A user-facing error: the message names the file (if any) and the problem."""


def check_int(option: str, value, lo: int, hi: int, why: str = "") -> None:
    """CatlasError naming ``option`` unless ``value`` is an integer in [lo, hi] (``why``: more
    words after the range)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise CatlasError(f"{option} must be an integer in [{lo}, {hi:_}]{why}, got {value!r}")
