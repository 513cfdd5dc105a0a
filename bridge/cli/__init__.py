"""The `descent` command: list, run, compare; grads, plot, show, practice; bench."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile

from bridge import budget
from bridge.cli import commands
from bridge.cli.parser import build
from bridge.console import Console
from bridge.errors import BridgeError
from bridge.runners import close_all

HANDLERS = {
    "bench": commands.cmd_bench,
    "list": commands.cmd_list,
    "run": commands.cmd_run,
    "compare": commands.cmd_compare,
    "grads": commands.cmd_grads,
    "plot": commands.cmd_plot,
    "show": commands.cmd_show,
    "practice": commands.cmd_practice,
}


def main(argv=None) -> int:
    """The descent command: exit 0, 1 (compare or practice found a mismatch), 2 (refused) or 130 (Ctrl-C)."""
    parser = build()
    try:
        args = parser.parse_args(argv)
        size = getattr(args, "memory_budget", None)
        with budget.limited(None if size is None else budget.parse_size(size)):
            return HANDLERS[args.command](args)
    except BridgeError as error:
        _refuse(str(error))
        return 2
    except KeyboardInterrupt:
        close_all(kill=True)
        _refuse("interrupted", prefix="descent: ")
        return 130
    except Terminated:
        close_all(kill=True)
        _refuse("terminated", prefix="descent: ")
        return 143
    except BrokenPipeError:  # `descent compare | head`: the reader left; nothing more to say, to anyone
        sys.stdout = open(os.devnull, "w")  # what is left unflushed goes nowhere, quietly
        return 0


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that it ends as Ctrl-C does: workers stopped, files removed."""


def _terminated(signum, frame):
    raise Terminated


def _refuse(message: str, prefix: str = "descent: error: ") -> None:
    """One line on stderr, after taking away any status line, and never more than one line."""
    Console.clear_any()
    text = " ".join(message.split()) or "failed"
    print(prefix + text, file=sys.stderr, flush=True)


def entry() -> None:
    """The `descent` console script and `python -m bridge`: main(), then leave at once.

    The output is flushed and every Keras worker told to stop; what is skipped is
    the interpreter's teardown of torch, TensorFlow and JAX, which writes nothing
    and takes 1.7 s after `descent compare` (benchmarks/test_cli_latency.py).
    """
    own = tempfile.mkdtemp(prefix="descent-")  # every temporary file of this run and its children: removed below
    os.environ["TMPDIR"], tempfile.tempdir = own, own  # TensorFlow's autograph files, torch's error files too
    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = main()
    except SystemExit as done:  # argparse's --help and its usage errors
        code = done.code if isinstance(done.code, int) else 2
    except KeyboardInterrupt:  # one that came after main() had returned
        code = 130
    except Terminated:
        code = 143
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # leaving now: a second one changes nothing
    close_all()
    shutil.rmtree(own, ignore_errors=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)
