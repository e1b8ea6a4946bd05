"""The command line's option types and output checks: argparse refuses a bad number by its flag
and exits 2 before any work; an output that cannot be written is refused before the work that
would be lost."""

from __future__ import annotations

import argparse
from pathlib import Path


def probability(text: str) -> float:
    """An argparse type for a threshold on a probability or score: a number from 0 to 1. Outside
    it every face gets one label, silently; argparse then names the flag and exits 2 before any work."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _number(text: str, kind, lowest, inclusive: bool, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {'a whole number' if kind is int else 'a number'}: {text!r}") from None
    if not (value >= lowest if inclusive else value > lowest):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type for counts that must be at least 1 (epochs, limits, rounds, …): 0 or a negative
    number would otherwise mean "all", slice from the end, or do nothing and claim success."""
    return _number(text, int, 1, True, "1 or more")


def count(text: str) -> int:
    """An argparse type for counts that may be 0 (extra copies, head epochs, a seed)."""
    return _number(text, int, 0, True, "0 or more")


def positive_float(text: str) -> float:
    """An argparse type for rates, weights and budgets: a finite number above 0."""
    value = _number(text, float, 0.0, False, "above 0")
    if value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def check_output(path: str | None, flag: str, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written (the results of a long run would be
    lost at the end): a file given as a folder or the other way round, or a file where a folder on
    its way should be."""
    if not path:
        return
    p = Path(path)
    if p.exists() and p.is_dir() != folder:
        raise ValueError(f"{flag} {path} is a {'file; give a folder' if folder else 'folder; give a file name'}")
    nearest = next((q for q in p.parents if q.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise ValueError(f"{flag} {path}: {nearest} is a file, not a folder")


def os_message(exc: OSError) -> str:
    """'<path>: <reason>' for an OSError that names a file (its str() reads "[Errno 21] Is a directory: 'x'")."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    return f"{exc.filename}: {exc.strerror.lower()}"
