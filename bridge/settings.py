"""A limit a person may set: an option of descent's, else an environment variable, else a default.

The memory budget (bridge.budget) and the time a data-parallel run may take (bridge.parallel) are two.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable


class Setting:
    """The option's value while `descent` runs it (limited), else the variable's, parsed, else the default."""

    def __init__(self, option: str, environment: str, default, parse: Callable[[str, str], object], unit: str):
        self.option, self.environment, self.default, self.parse, self.unit = option, environment, default, parse, unit
        self._override = None

    def value(self):
        if self._override is not None:
            return self._override
        text = os.environ.get(self.environment)
        return self.default if text is None else self.parse(text, self.environment)

    @contextlib.contextmanager
    def limited(self, value):
        """Within the block, the setting is value (None: unchanged)."""
        saved, self._override = self._override, value if value is not None else self._override
        try:
            yield
        finally:
            self._override = saved

    def how_to_raise(self) -> str:
        """What a refusal says: how a person raises it."""
        return f"{self.option} {self.unit} or {self.environment}={self.unit}"
