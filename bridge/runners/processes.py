"""What both out-of-process runners share: the child's environment and command, and an error reply raised here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bridge import errors
from bridge.environment import TENSORFLOW_ENVIRONMENT

SERVE = [sys.executable, "-m", "bridge.runners.serve"]  # the other end of both (bridge/runners/serve.py)
SOURCE = Path(__file__).resolve().parent.parent.parent  # this checkout: what a child imports bridge and impl from


def environment(row, more: dict | None = None, source: str | Path | None = None) -> dict:
    """This process's environment, with what the row's framework needs before it starts, importing from source."""
    root = str(source or SOURCE)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return TENSORFLOW_ENVIRONMENT | dict(os.environ) | dict(row.environment) | (more or {}) | {"PYTHONPATH": path}


def die_with_parent() -> None:
    """In a child: be killed when the process that started it ends, however it ends (Linux's parent-death signal).

    So a launcher killed on its timeout takes its ranks with it, and `descent` killed takes every worker and
    launcher it started. Elsewhere (no prctl) a child still ends when its stdin closes.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def raise_if_error(reply: dict, who: str, detail: str = "") -> None:
    """A child's error reply raised here: a BridgeError as itself, anything else as a BridgeError naming who failed."""
    if "error" not in reply:
        return
    kind = getattr(errors, reply["error"], None)
    if isinstance(kind, type) and issubclass(kind, errors.BridgeError):
        error = kind(reply["message"])
    else:
        error = errors.BridgeError(f"{who} failed: {reply['error']}: {reply['message']}{detail}")
    error.detail = reply.get("traceback", "")
    raise error
