"""Errors the API raises; the CLI prints their message on one line and exits 2."""


class BridgeError(Exception):
    """Base class: a problem the user can fix, explained in one line."""

    detail = ""  # where it came from another process: that process's traceback (descent --debug prints it)


class InvalidProblem(BridgeError, ValueError):
    """A problem's numbers or sizes are not usable."""


class UnknownName(BridgeError, LookupError):
    """No implementation or preset of that name."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return self.args[0]


class FrameworkMissing(BridgeError, ImportError):
    """The framework an implementation needs is not installed."""


class DeviceUnavailable(BridgeError, RuntimeError):
    """The requested device is unknown or not present."""
