"""Exit codes and the errors a command raises for expected problems.

A `CLIError` is printed by `main` as one line on stderr (with a traceback
only under `$KERAS_MUSICVAE_DEBUG`), and the process exits with its code.
"""

import os


# Exit codes (documented in docs/CLI.md).
EXIT_OK = 0


EXIT_FAILURE = 1  # bad input file, no examples, failed step


EXIT_USAGE = 2  # bad arguments, unknown preset or hyperparameter


EXIT_EXISTS = 3  # an output exists and --overwrite was not given


EXIT_INTERRUPTED = 130


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)


DEBUG_ENV = "KERAS_MUSICVAE_DEBUG"


class CLIError(Exception):
    """An expected failure: printed as one line, exits with `exit_code`."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CLIError):
    """Bad arguments (exit code 2)."""

    exit_code = EXIT_USAGE


class OutputExistsError(CLIError):
    """An output exists and `--overwrite` was not given (exit code 3)."""

    exit_code = EXIT_EXISTS


def debug_enabled():
    """Whether `$KERAS_MUSICVAE_DEBUG` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
