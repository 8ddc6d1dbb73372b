"""What a command prints: progress lines, warnings, notes, progress bars."""

import sys


def say(message=""):
    """A result line, on stdout."""
    print(message, flush=True)


def warn(message):
    """A warning line, on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def note(message):
    """An informative line, on stderr (stdout keeps the results)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def interactive():
    """Whether stderr is a terminal (progress bars are shown only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, total=None, desc=None, unit="it"):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
        leave=False,
    )
