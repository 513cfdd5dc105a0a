"""The `descent` command: list, run, compare; grads, plot, show, practice; bench."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile

from bridge import budget, parallel
from bridge.cli import commands
from bridge.cli.parser import GUIDE, build
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


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that it ends as Ctrl-C does: workers stopped, files removed."""


STOPPED = {KeyboardInterrupt: ("interrupted", 130), Terminated: ("terminated", 143)}  # what is said, the exit code


def main(argv=None) -> int:
    """The descent command: exit 0, 1 (a mismatch in compare or practice), 2 (refused), 130 (Ctrl-C), 143 (SIGTERM)."""
    parser, args = build(), None
    if not (sys.argv[1:] if argv is None else argv):  # `descent` alone: what to run first, and why
        print(GUIDE)
        return 0
    try:
        args = parser.parse_args(argv)
        size, seconds = getattr(args, "memory_budget", None), getattr(args, "time_limit", None)
        with budget.limited(None if size is None else budget.parse_size(size)):
            with parallel.time_limited(None if seconds is None else parallel.parse_seconds(seconds)):
                return HANDLERS[args.command](args)
    except BridgeError as error:
        if error.detail and getattr(args, "debug", False):
            print(error.detail.rstrip(), file=sys.stderr)
        _refuse(str(error))
        return 2
    except (KeyboardInterrupt, Terminated) as stop:
        close_all(kill=True)
        said, code = STOPPED[type(stop)]
        _refuse(said, prefix="descent: ")
        return code
    except BrokenPipeError:  # `descent compare | head`: the reader left; nothing more to say, to anyone
        sys.stdout = open(os.devnull, "w")  # what is left unflushed goes nowhere, quietly
        return 0


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
    except (KeyboardInterrupt, Terminated) as stop:  # one that came after main() had returned
        code = STOPPED[type(stop)][1]
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
