"""An off switch for a fast path: an environment variable and a context manager.

The backend fast paths (`layers/torch_lstm.py`, `layers/cudnn_lstm.py`) can
each be turned off for a whole process (their environment variable set to
`0`, `false`, `no` or `off`) or within a block (`disabled()`, which nests;
tests compare a fast path with the generic one this way, and the exports
trace their graphs without cuDNN's GPU-only op).
"""

import contextlib
import os

_OFF_VALUES = ("0", "false", "no", "off")


class PathSwitch:
    """Whether a fast path is on.

    Args:
        environment_variable: the variable that turns the path off.
    """

    def __init__(self, environment_variable):
        self.environment_variable = environment_variable
        self._disabled_depth = 0

    def is_on(self):
        """False inside `disabled()` or with the variable set to an off value."""
        if self._disabled_depth:
            return False
        value = os.environ.get(self.environment_variable, "1").strip().lower()
        return value not in _OFF_VALUES

    @contextlib.contextmanager
    def disabled(self):
        """Within the block, the path is off."""
        self._disabled_depth += 1
        try:
            yield
        finally:
            self._disabled_depth -= 1
