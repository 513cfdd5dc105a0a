"""descent's grammar: every command, its options, and how a problem is read from them."""

from __future__ import annotations

import argparse
import re

from bridge import budget, parallel
from bridge.devices import CPU, parse
from bridge.errors import InvalidProblem
from bridge.floats import DTYPES
from bridge.parallel import DEFAULT_WORKERS, MAX_WORKERS
from bridge.problems import PRESETS, Batched, Classifier, Network, OneWeight, preset, with_changes
from bridge.rows import IMPLEMENTATIONS, reference_row
from bridge.teaching.parity import autograd_rows

OVERRIDES = ("x", "y", "w0", "lr", "steps", "epochs", "batch_size", "b0", "hidden", "optimizer", "train_size")
OVERRIDES += ("records",)
APPLIES = {  # which overrides each kind of problem takes
    OneWeight: ("x", "y", "w0", "lr", "steps"),
    Batched: ("w0", "lr", "epochs", "batch_size", "b0"),
    Network: ("lr", "epochs", "batch_size", "hidden"),
    Classifier: (
        *("lr", "epochs", "batch_size", "hidden", "optimizer", "train_size", "records"),
        *("data", "from_probabilities"),
    ),
}
KIND = {OneWeight: "one-weight", Batched: "batched", Network: "network", Classifier: "classifier"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2, and -1e309 or -inf is a value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes -1, -0.5 as values but -1e309, -1E3 and -inf as options ("expected one argument");
        # no option of descent's looks like a number, so these are values too, refused or not by the problem
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _count(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def _problem_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("problem", "a preset, optionally with some numbers replaced")
    group.add_argument("--problem", default="lesson", help=f"preset: {', '.join(PRESETS)} (default: lesson)")
    # Values pass through as typed when they do not parse, so that the problem's own
    # validation words the error exactly as the Python API does.
    for name in ("x", "y", "w0", "lr"):
        group.add_argument(f"--{name}", type=_number, help=f"replace the preset's {name}")
    group.add_argument("--steps", type=_count, help="updates of a one-weight problem")
    group.add_argument("--epochs", type=_count, help="epochs of a batched problem")
    group.add_argument("--batch-size", type=_count, help="batch size of a batched problem")
    group.add_argument("--b0", type=_number, help="a batched problem's starting bias (adds a bias if it has none)")
    group.add_argument(
        "--hidden", type=_count, help="a network's hidden units (its parameters drawn anew from its seed)"
    )
    group.add_argument("--optimizer", help="a classifier's optimizer: sgd or adam (Keras's defaults)")
    group.add_argument("--train-size", type=_count, help="a classifier: train on the first N training images only")
    group.add_argument(
        "--records",
        help="a classifier: step (every update's layers, the default) or epoch (every loss, the layers once an "
        "epoch: an MNIST-sized run's records)",
    )
    group.add_argument(
        "--data", metavar="PATH", help="a classifier on MNIST: Keras's mnist.npz, or a folder of the four IDX files"
    )
    group.add_argument(
        "--from-probabilities",
        action="store_true",
        help="a classifier's loss from softmax probabilities, clipped at 1e-7 (Keras's path), not from logits",
    )
    group.add_argument("--dtype", default="float64", help=f"{' or '.join(DTYPES)} (default: float64)")
    parser.add_argument(
        "--device", type=parse, default=CPU, help="cpu (default), cuda or gpu, for torch, TensorFlow and JAX"
    )
    parser.add_argument(
        budget.OPTION,
        help=f"the most a run may store, e.g. 512MB or 4GiB (default: ${budget.ENVIRONMENT}, else 2GiB)",
    )
    parser.add_argument(
        parallel.TIME_OPTION,
        help=f"the seconds a data-parallel run may take (default: ${parallel.TIME_ENVIRONMENT}, "
        f"else {parallel.DEFAULT_TIME_S})",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--debug", action="store_true", help="where a worker or launcher fails: its traceback, before the one line"
    )


def problem_of(args):
    """The preset named by --problem, with the command line's overrides applied."""
    base = preset(args.problem, args.dtype)
    changes = {k: getattr(args, k, None) for k in (*OVERRIDES, "data")}
    changes = {k: v for k, v in changes.items() if v is not None}
    if getattr(args, "from_probabilities", False):
        changes["from_probabilities"] = True
    for name in changes:
        if name not in APPLIES[type(base)]:
            flag = "--" + name.replace("_", "-")
            raise InvalidProblem(f"{flag} does not apply to {args.problem!r}, a {KIND[type(base)]} problem")
    args.label = args.problem + (" (modified)" if changes else "")  # for headers and titles
    if "data" in changes:  # MNIST from the files given: read and checked before anything runs
        from bridge.images import mnist

        changes["images"] = mnist(changes.pop("data"))
        args.label = f"{args.problem} on {changes['images'].name}"
    if changes.pop("from_probabilities", False):
        changes["from_logits"] = False
    # overrides are plain floats: round them to the dtype like the preset's own numbers
    return with_changes(base, **changes) if changes else base


GUIDE = """descent: the lesson's gradient-descent loop, written once per framework, walking the same path.

Start here:
  descent run                  the lesson's 20 steps, in plain Python: the numbers you worked out by hand
  descent compare              every framework on the same problem: same bits, or how close and why
  descent show --impl python torch_autograd --side-by-side
                               the hand-written loop beside autograd's, step for step
  descent practice             the lesson's practice set, worked by the code

Then: descent run --impl torch_autograd --lr 0.5 (a learning rate too large), descent compare --problem
mini_batch (batches), descent compare --problem mlp (a layer), descent --help (everything)."""

EXAMPLES = {  # what each command's --help ends with: two or three lines to copy
    "list": ["descent list", "descent list --json"],
    "run": [
        "descent run                                  # the reference: the lesson's loop in plain Python",
        "descent run --impl torch_autograd --lr 0.5    # autograd, and a learning rate that overshoots",
        "descent run --impl keras_tensorflow --problem mini_batch --epochs 2   # Keras's fit, batch by batch",
    ],
    "compare": [
        "descent compare                              # every installed framework on the lesson",
        "descent compare --problem mini_batch --why   # batches, and the proof behind each verdict",
        "descent compare --impl python torch_ddp --problem bias --workers 3",
    ],
    "grads": ["descent grads", "descent grads --problem mini_batch --impl torch_autograd jax_grad"],
    "plot": ["descent plot --output lesson.png", "descent plot --problem overshoot --output overshoot.png"],
    "show": [
        "descent show --impl python torch_autograd --side-by-side   # the lesson's lines, step beside step",
        "descent show --impl keras_jax                # Sequential, compile, fit",
        "descent show --impl python --full            # the file as it is: recording and float32 rounding",
    ],
    "practice": [
        "descent practice                  # at a terminal: asks, waits for your answer, checks it",
        "descent practice --answers        # every answer at once",
        "descent practice --impl jax_grad --json",
    ],
    "bench": ["descent bench --quick", "descent bench --device cuda"],
}


def _command(commands, name: str, **kwargs):
    """A subcommand whose --help ends with its examples."""
    epilog = "examples:\n" + "".join(f"  {line}\n" for line in EXAMPLES[name])
    return commands.add_parser(name, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def build() -> _Parser:
    parser = _Parser(
        prog="descent",
        description="One gradient-descent loop, six frameworks, one trajectory.",
        epilog="examples:\n  descent run\n  descent compare\n  descent compare --problem mini_batch --why\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _command(commands, "list", help="the implementations, installed or not").add_argument("--json", action="store_true")
    run = _command(commands, "run", help="run one implementation and print the lesson's lines")
    run.add_argument(
        "--impl", default=reference_row().name, help=f"one of: {', '.join(IMPLEMENTATIONS)} (default: the reference)"
    )
    _problem_options(run)
    comp = _command(commands, "compare", help="run implementations and check them against the reference")
    comp.add_argument("--impl", action="extend", nargs="+", help="one or more names (default: all that apply)")
    comp.add_argument(
        "--why", action="store_true", help="the proof: distances in ULP, the derived bounds, each cause in full"
    )
    _problem_options(comp)
    for command in (run, comp):
        command.add_argument(
            "--workers",
            type=_count,
            default=DEFAULT_WORKERS,
            help=f"workers a data-parallel row splits each batch across, 1 to {MAX_WORKERS} "
            f"(default: {DEFAULT_WORKERS})",
        )
    grads = _command(commands, "grads", help="the hand-derived gradient beside autograd's, step by step")
    grads.add_argument("--impl", action="extend", nargs="+", help=f"default: {' '.join(autograd_rows())}")
    grads.add_argument("--all", action="store_true", help="a network: every entry of each layer, not its largest")
    grads.add_argument("--why", action="store_true", help="each difference's cause in full")
    _problem_options(grads)
    plot = _command(commands, "plot", help="loss curves, the valley and three learning rates, as a PNG")
    plot.add_argument("--impl", action="extend", nargs="+", help="default: every installed one")
    plot.add_argument("--output", required=True, help="the .png file to write")
    _problem_options(plot)
    show_cmd = _command(commands, "show", help="the loop of each implementation, from its source file")
    show_cmd.add_argument("--impl", action="extend", nargs="+", help="default: all")
    show_cmd.add_argument("--loop", choices=("one_weight", "batched", "network", "classifier"), default="one_weight")
    show_cmd.add_argument("--side-by-side", action="store_true", help="columns, with the lesson's steps aligned")
    show_cmd.add_argument(
        "--width", type=_count, help="columns of each --side-by-side column (8 to 1000; default: all fit 100)"
    )
    show_cmd.add_argument(
        "--full", action="store_true", help="the file's lines unedited: with the recording and float32 rounding"
    )
    drill = _command(commands, "practice", help="the lesson's practice set, worked by the code")
    drill.add_argument("--impl", help="which implementation computes (default: the reference)")
    drill.add_argument("--answers", action="store_true", help="print every answer at once (at a terminal it asks)")
    drill.add_argument("--json", action="store_true")
    bench = _command(commands, "bench", help="time every implementation (pytest-benchmark), table and chart")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    bench.add_argument(
        "--device", type=parse, default=CPU, help="cpu (default), cuda or gpu for torch, TensorFlow and JAX"
    )
    bench.add_argument("--output-dir", default=".benchmarks", help="where the JSON and the PNG go")
    bench.add_argument("--results", help="report on an existing pytest-benchmark JSON instead of running")
    return parser
