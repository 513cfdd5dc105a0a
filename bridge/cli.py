"""The `descent` command: list, run, compare; grads, plot, show, practice; bench."""

from __future__ import annotations

import argparse
import json
import os
import sys

from bridge import budget, keras_process, parallel
from bridge.compare import compare, expected_departure
from bridge.console import Console
from bridge.errors import BridgeError, InvalidProblem
from bridge.files import writable_file, writable_folder
from bridge.floats import DTYPES
from bridge.problems import PRESETS, Batched, Network, OneWeight, preset, with_changes
from bridge.registry import IMPLEMENTATIONS, REGISTRY, get, start, train
from bridge.teaching import AUTOGRAD, first_divergence, lesson_number, notes, parity_rows, practice, show, show_parallel

REFERENCE = "python"
OVERRIDES = ("x", "y", "w0", "lr", "steps", "epochs", "batch_size", "b0", "hidden")
APPLIES = {  # which overrides each kind of problem takes
    OneWeight: ("x", "y", "w0", "lr", "steps"),
    Batched: ("w0", "lr", "epochs", "batch_size", "b0"),
    Network: ("lr", "epochs", "batch_size", "hidden"),
}
KIND = {OneWeight: "one-weight", Batched: "batched", Network: "network"}
SHOW_WIDTHS = (8, 1000)  # columns of `show --side-by-side`: narrower hides the code, wider no screen shows


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

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
    group.add_argument("--dtype", default="float64", help=f"{' or '.join(DTYPES)} (default: float64)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu, for torch, TensorFlow and JAX")
    parser.add_argument(
        budget.OPTION,
        help=f"the most a run may store, e.g. 512MB or 4GiB (default: ${budget.ENVIRONMENT}, else 1GiB)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _problem(args):
    """The preset named by --problem, with the command line's overrides applied."""
    base = preset(args.problem, args.dtype)
    changes = {k: getattr(args, k) for k in OVERRIDES}
    changes = {k: v for k, v in changes.items() if v is not None}
    for name in changes:
        if name not in APPLIES[type(base)]:
            flag = "--" + name.replace("_", "-")
            raise InvalidProblem(f"{flag} does not apply to {args.problem!r}, a {KIND[type(base)]} problem")
    args.label = args.problem + (" (modified)" if changes else "")  # for headers and titles
    # overrides are plain floats: round them to the dtype like the preset's own numbers
    return with_changes(base, **changes) if changes else base


def describe(problem) -> dict:
    """The problem's parameters, for headers and JSON."""
    if isinstance(problem, Network):
        shape = {"n": int(problem.x.size), "epochs": problem.epochs, "batch_size": problem.batch_size}
        layer = {"hidden": problem.hidden, "activation": problem.activation, "seed": problem.seed}
        return {
            "kind": "network",
            **shape,
            **layer,
            "lr": problem.lr,
            "dtype": problem.dtype,
            "updates": problem.updates,
        }
    common = {"w0": problem.w0, "lr": problem.lr, "dtype": problem.dtype, "updates": problem.updates}
    if isinstance(problem, Batched):
        return {
            "kind": "batched",
            "n": int(problem.x.size),
            "epochs": problem.epochs,
            "batch_size": problem.batch_size,
            "b0": problem.b0,
            **common,
        }
    return {"kind": "one_weight", "x": problem.x, "y": problem.y, "steps": problem.steps, **common}


def _finite_or_text(value: float):
    return value if value == value and abs(value) != float("inf") else repr(value)


def cmd_list(args) -> int:
    rows = []
    for impl in REGISTRY.values():
        installed = impl.installed()
        rows.append(
            {
                "name": impl.name,
                "summary": impl.summary,
                "framework": impl.version() if installed else impl.framework,
                "installed": installed,
                "extra": impl.extra or None,  # None: needs nothing beyond the core install
                "install": None if installed else impl.install_hint(),
                "devices": ["cpu", "cuda"] if impl.gpu else ["cpu"],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0

    def column(title, values):
        return max(len(title), *map(len, values)) + 2

    extras = [f"[{row['extra']}]" if row["extra"] else "(core)" for row in rows]
    width = column("implementation", [row["name"] for row in rows])
    framework_width, extra_width = column("framework", [row["framework"] for row in rows]), column("extra", extras)
    print(f"{'implementation':{width}}{'framework':{framework_width}}{'extra':{extra_width}}{'devices':10}status")
    for row, extra in zip(rows, extras):
        status = "installed" if row["installed"] else f"not installed: {row['install']}"
        devices = "/".join(row["devices"])
        print(
            f"{row['name']:{width}}{row['framework']:{framework_width}}{extra:{extra_width}}{devices:10}{status}"
            f"  ({row['summary']})"
        )
    return 0


def cmd_run(args) -> int:
    get(args.impl)
    workers = _workers(args)
    problem = _problem(args)
    trajectory = train(args.impl, problem, args.device, workers)
    if args.json:
        out = {"problem": describe(problem) | {"name": args.problem}, **trajectory.to_dict()}
        print(json.dumps(out | {"diverged": first_divergence(trajectory)}, indent=2))
        return 0
    if isinstance(problem, Network):  # the lesson's line has one weight; a network's has its loss (--json: all)
        for step, loss in enumerate(trajectory.losses):
            print(f"step {step:2d}  loss={lesson_number(loss)}")
    for step, (weight, loss) in enumerate(zip(trajectory.weights, trajectory.losses)):
        # the lesson's line; numbers beyond 1e15 in scientific form (teaching.lesson_number)
        bias = f"  bias={lesson_number(trajectory.biases[step])}" if trajectory.biases else ""
        print(f"step {step:2d}  weight={lesson_number(weight)}{bias}  loss={lesson_number(loss)}")
    for note in notes(problem, trajectory):
        print(note)
    return 0


def _workers(args) -> int:
    """--workers, checked whether or not a data-parallel row is asked for: a bad value is never ignored."""
    try:
        return parallel.check_workers(args.workers)
    except InvalidProblem as error:
        raise InvalidProblem(f"--{error}") from None


def _rows_to_run(args, problem=None) -> tuple[list[str], list[dict]]:
    """The installed rows a command runs, each able to use the device; and the uninstalled ones, skipped.

    Everything that can be refused is refused here, before anything runs. Asked for none by name, a command
    runs every row with a loop for the problem (the data-parallel rows run the batched loop only).
    """
    names = args.impl or [n for n in IMPLEMENTATIONS if problem is None or REGISTRY[n].applies(problem)]
    for name in names:
        get(name)
    run, skipped = [], []
    for name in dict.fromkeys(names):
        impl = REGISTRY[name]
        if not impl.installed():
            if args.impl:  # asked for by name: missing is an error
                raise impl.missing()
            skipped.append({"implementation": name, "install": impl.install_hint()})
            continue
        run.append(name)
    _check_devices(run, args.device)
    return run, skipped


def _check_devices(names, device: str) -> None:
    """Raise DeviceUnavailable, before anything runs, unless every GPU-capable row here can use the device."""
    for name in names:
        where = REGISTRY[name].device_for(device)
        if where != "cpu":
            REGISTRY[name].check_device(where)


def _held(problem, names) -> dict[str, int]:
    """The bytes a command holds at once: the reference, every Keras row (they run concurrently), the largest other."""
    held = {REFERENCE: budget.stored(REFERENCE, problem)}
    others = [n for n in names if n != REFERENCE and not REGISTRY[n].backend]
    held |= {n: budget.stored(n, problem) for n in names if REGISTRY[n].backend}
    if others:
        largest = max(others, key=lambda n: budget.stored(n, problem))
        held[largest] = budget.stored(largest, problem)
    return held


def cmd_compare(args) -> int:
    workers = _workers(args)
    problem = _problem(args)
    names, skipped = _rows_to_run(args, problem)
    budget.check(_held(problem, names), "this comparison")
    console = Console(plain=args.json)
    # Keras rows train in worker processes: all of them start now, while the rows in this process run
    runs = {n: start(n, problem, REGISTRY[n].device_for(args.device), workers) for n in names}
    table = _Table(console, args, problem, names)
    reference = train(REFERENCE, problem)
    rows = []
    for name in names:
        impl = REGISTRY[name]
        device = impl.device_for(args.device)
        console.status(_starting(name))
        trajectory = reference if name == REFERENCE else runs[name]()
        verdict = compare(problem, reference, trajectory)
        row = {
            "implementation": name,
            "framework": impl.version(),
            "dtype": problem.dtype,
            "device": device,
            "workers": workers if impl.parallel else 1,
            "verdict": "reference" if name == REFERENCE else verdict.summary(),
            "final_weight": _final_weight(problem, trajectory),
            "final_loss": _finite_or_text(trajectory.losses[-1]) if len(trajectory) else None,
            "detail": verdict.to_dict(),
            "_verdict": verdict,
        }
        rows.append(row)
        table.row(row)
    conforms = all(row["_verdict"].conforms for row in rows)
    if args.json:
        out = {
            "problem": describe(problem) | {"name": args.problem},
            "reference": REFERENCE,
            "conforms": conforms,
            "rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            "not_installed": skipped,
        }
        print(json.dumps(out, indent=2))
    else:
        table.end(rows, skipped, notes(problem, reference))
    return 0 if conforms else 1


def _final_weight(problem, trajectory):
    """The last weight: the one-weight and batched models' w; a network has no one weight (None)."""
    if isinstance(problem, Network):
        return None
    return _finite_or_text(trajectory.weights[-1]) if len(trajectory) else problem.w0


def _starting(name: str) -> str:
    """What a person waits for while this row starts: a framework's import, a Keras worker, or the run."""
    impl = REGISTRY[name]
    if impl.backend:
        return f"{name}: waiting for its Keras worker (Keras on {impl.backend}, in a process of its own)…"
    if impl.parallel:
        return f"{name}: starting its launcher and workers (processes of their own)…"
    if impl.framework and impl.framework not in sys.modules:
        return f"{name}: importing {impl.framework}…"
    return f"{name}: training…"


class _Table:
    """The compare table, printed a row at a time: its columns are fixed before the first row is known."""

    HEADER = ("implementation", "framework", "dtype", "device", "final weight", "final loss", "verdict")
    NUMBER = 24  # the longest repr of a float: -2.2250738585072014e-308

    def __init__(self, console: Console, args, problem, names):
        self.console, self.args, self.problem, self.notes = console, args, problem, []
        if args.json:
            return
        devices = [self.device(n) for n in names]
        self.widths = [
            max(len(self.HEADER[0]), *map(len, names)),
            max(len(self.HEADER[1]), *(len(REGISTRY[n].version()) for n in names)),
            len("float64"),
            max(len(self.HEADER[3]), *map(len, devices)),
            self.NUMBER,
            self.NUMBER,
        ]
        info = describe(problem)
        shape = "one weight"
        if info["kind"] == "batched":
            shape = f"{info['n']} samples, batch {info['batch_size']}"
            shape += "" if info["b0"] is None else ", weight and bias"
        if info["kind"] == "network":
            shape = (
                f"{info['n']} samples, batch {info['batch_size']}, {info['hidden']} hidden units ({info['activation']})"
            )
        console.line(
            f"problem {args.label}: {shape}, lr {problem.lr!r}, {problem.updates} updates, "
            f"{problem.dtype}; reference: {REFERENCE}"
        )
        self._print(self.HEADER[:-1], self.HEADER[-1])

    def device(self, name: str) -> str:
        """Where the row ran: the device, and for a data-parallel row how many workers (cpu x2)."""
        where = REGISTRY[name].device_for(self.args.device)
        return f"{where} x{self.args.workers}" if REGISTRY[name].parallel else where

    def _print(self, cells, verdict: str = "") -> None:
        self.console.line("  ".join(str(c).ljust(w) for c, w in zip(cells, self.widths)) + "  " + verdict)

    def row(self, r: dict) -> None:
        if self.args.json:
            return
        verdict = r["_verdict"]
        self.notes += [note for note in verdict.footnotes() if note not in self.notes]
        text = "reference"
        if r["verdict"] != "reference":
            marks = "".join(f" [{self.notes.index(note) + 1}]" for note in verdict.footnotes())
            text = self.console.paint(verdict.headline(), verdict.status) + marks
        numbers = (_number_text(r["final_weight"]), _number_text(r["final_loss"]))
        self._print((r["implementation"], r["framework"], r["dtype"], self.device(r["implementation"]), *numbers), text)

    def end(self, rows, skipped, lines) -> None:
        """Below the table: each cause once, the closest calls, failures with how to reproduce, the count."""
        line = self.console.line
        for number, note in enumerate(self.notes, 1):
            line(f"  [{number}] {note}")
        for r in rows:
            worst = r["_verdict"].worst
            if worst is not None:
                share = abs(worst.value - worst.reference) / worst.bound
                line(f"  {r['implementation']}: closest to its bound: {worst.describe()}, {share:.1%} of the bound")
        failed = [r for r in rows if not r["_verdict"].conforms]
        for r in failed:
            line(
                f"{r['implementation']}: {r['_verdict'].failure.describe()}; reproduce: descent compare --impl "
                f"{r['implementation']} --problem {self.args.problem} --dtype {self.problem.dtype}"
            )
        for s in skipped:
            line(f"{s['implementation']}: not installed, not compared ({s['install']})")
        line(
            f"{len(rows) - len(failed)} of {len(rows)} implementations conform"
            + (f"; {len(skipped)} not installed" if skipped else "")
            + "."
        )
        for text in lines:
            line(text)


def cmd_grads(args) -> int:
    problem = _problem(args)
    wanted = args.impl or list(AUTOGRAD)
    for name in wanted:
        if get(name).parallel:  # grads retrains one step at a time: a launcher and its workers per step
            raise InvalidProblem(
                f"descent grads compares single-process rows; {name} is data-parallel: "
                f"descent compare --impl python {name} checks its every gradient"
            )
    names = [n for n in dict.fromkeys(wanted) if REGISTRY[n].installed()]
    missing = [n for n in dict.fromkeys(wanted) if n not in names]
    _check_devices(names, args.device)
    budget.check({n: budget.stored(n, problem) for n in [REFERENCE, *names]}, "this gradient table")
    console = Console(plain=args.json)
    console.status(f"the reference ({REFERENCE}), then {', '.join(names) or 'nothing else'}…")
    steps = parity_rows(problem, names, args.device)
    if args.json:
        parity = {"implementations": names, "not_installed": missing, "rows": list(steps)}
        print(json.dumps({"problem": describe(problem) | {"name": args.problem}, **parity}, indent=2, default=repr))
        return 0
    network = isinstance(problem, Network)
    hand = "backpropagation by hand, layer by layer," if network else "the hand-derived 2 * (pred - y) * x"
    console.line(f"gradient parity on {args.label} ({problem.dtype}): {hand} against the gradient each autograd finds")
    width = max(12, *(len(n) for n in names)) if names else 12
    first = f"{'step':>4}  {'layer':<5}  {'hand-derived':<24}" if network else f"{'step':>4}  {'hand-derived':<24}"
    console.line(first + "".join(f"{n:<{width + 2}}" for n in names))
    exact = dict.fromkeys(names, 0)
    count = 0

    def cell_text(cell) -> str:
        text = "exact" if cell["exact"] else f"{cell['ulps']:g} ULP" if cell["ulps"] else "exact (±0)"
        status = "bitwise" if cell["exact"] or not cell["ulps"] else "bounded"
        return console.paint(text, status) + " " * (width + 2 - len(text))

    for row in steps:  # each step's line as soon as every implementation has given its gradient
        if network:  # one line per layer; a step is exact where every layer is
            for layer, values in row["hand"].items():
                shown = repr(values[0]) + (" …" if len(values) > 1 else "")
                cells = "".join(cell_text(row["autograd"][n][layer]) for n in names)
                console.line(f"{row['step']:>4}  {layer:<5}  {shown:<24}" + cells.rstrip())
            for name in names:
                exact[name] += all(cell["exact"] for cell in row["autograd"][name].values())
        else:
            for name in names:
                exact[name] += row["autograd"][name]["exact"]
            cells = "".join(cell_text(row["autograd"][n]) for n in names)
            console.line(f"{row['step']:>4}  {row['hand']!r:<24}" + cells.rstrip())
        count += 1
        console.status(f"step {count + 1} of {problem.updates}…")
    console.line("; ".join(f"{n}: {exact[n]} of {count} exact" for n in names) + ".")
    for name in names:
        departure = expected_departure(name, problem, REGISTRY[name].device_for(args.device))
        if exact[name] < count and departure:
            console.line(f"  {name}: {departure.cause}")
    for name in missing:
        console.line(f"{name}: not installed ({REGISTRY[name].install_hint()})")
    return 0


def cmd_plot(args) -> int:
    from bridge.plotting import plot

    target = writable_file(args.output, "--output", ".png")  # before any training: a bad path costs nothing
    problem = _problem(args)
    names, _ = _rows_to_run(args, problem)
    if not args.impl:  # the data-parallel rows walk the batched trajectory again, in launchers: named only
        names = [n for n in names if not REGISTRY[n].parallel]
    if not names:
        raise InvalidProblem("no implementation to plot is installed")
    held = {n: budget.stored(n, problem) for n in names}
    held[names[0]] += 3 * budget.stored(names[0], problem)  # and the three learning rates of the lesson
    budget.check(held, "this plot")
    console = Console()
    console.status(f"training {len(names)} implementations and three learning rates…")
    width, height = plot(problem, names, target, args.label, args.device)
    console.line(f"wrote {args.output} ({width} x {height} pixels)")
    return 0


def cmd_show(args) -> int:
    names = args.impl or list(IMPLEMENTATIONS)
    for name in names:
        get(name)
    if not isinstance(args.width, int) or not SHOW_WIDTHS[0] <= args.width <= SHOW_WIDTHS[1]:
        low, high = SHOW_WIDTHS
        raise InvalidProblem(f"--width must be a whole number from {low} to {high}, got {args.width}")
    if args.impl and all(REGISTRY[n].parallel for n in names):  # each beside the single-process loop it splits
        print("\n\n".join(show_parallel(n, args.width) for n in dict.fromkeys(names)))
        return 0
    print(show(names, args.loop, args.side_by_side, args.width))
    return 0


def cmd_practice(args) -> int:
    get(args.impl)
    answers = practice(args.impl)
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        for number, item in enumerate(answers, 1):
            mark = "ok" if item["got"] == item["answer"] else "WRONG"
            print(f"{number}. {item['question']}\n   {item['computed']}\n   expected {item['answer']!r}: {mark}")
    return 0 if all(item["got"] == item["answer"] for item in answers) else 1


def cmd_bench(args) -> int:
    from pathlib import Path

    from bridge import bench
    from bridge.registry import refusals

    if args.results is not None:
        results = Path(args.results)
        if not results.is_file():
            raise InvalidProblem(f"--results {args.results!r}: no such file (a pytest-benchmark JSON)")
    else:
        refusals(args.device)  # raises, in one line, when nothing installed can run there
    output = writable_folder(args.output_dir, "--output-dir")  # before minutes of benchmarks, not after
    if args.results is None:
        results = bench.run_suite(output, args.quick, args.device)
    try:
        summary = bench.summarise(results)
    except (OSError, ValueError, LookupError, TypeError, AttributeError) as error:  # a file that is not one
        raise InvalidProblem(f"--results {str(results)!r} is not a JSON that descent bench wrote ({error!r})") from None
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    bench.print_report(summary)
    bench.chart(summary, output / "step_time.png")
    print(f"\nwrote {results}, {output / 'summary.json'} and {output / 'step_time.png'}")
    return 0


def _number_text(value) -> str:
    """Full precision for numbers, as written for inf and NaN, a dash for nothing."""
    return "-" if value is None else value if isinstance(value, str) else repr(value)


def _marked(row: dict, notes: list[str]) -> str:
    """A row's verdict: the reference, or the headline with a footnote mark for each cause and note."""
    if row["verdict"] == "reference":
        return "reference"
    verdict = row["_verdict"]
    return verdict.headline() + "".join(f" [{notes.index(note) + 1}]" for note in verdict.footnotes())


def main(argv=None) -> int:
    """The descent command: exit 0, 1 (compare or practice found a mismatch), 2 (refused) or 130 (Ctrl-C)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        size = getattr(args, "memory_budget", None)
        with budget.limited(None if size is None else budget.parse_size(size)):
            return HANDLERS[args.command](args)
    except BridgeError as error:
        _refuse(str(error))
        return 2
    except KeyboardInterrupt:
        keras_process.close_all(kill=True)
        _refuse("interrupted", prefix="descent: ")
        return 130
    except BrokenPipeError:  # `descent compare | head`: the reader left; nothing more to say, to anyone
        sys.stdout = open(os.devnull, "w")  # what is left unflushed goes nowhere, quietly
        return 0


def _refuse(message: str, prefix: str = "descent: error: ") -> None:
    """One line on stderr, after taking away any status line, and never more than one line."""
    Console.clear_any()
    text = " ".join(message.split()) or "failed"
    print(prefix + text, file=sys.stderr, flush=True)


def _parser() -> _Parser:
    parser = _Parser(prog="descent", description="One gradient-descent loop, six frameworks, one trajectory.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="the implementations, installed or not").add_argument(
        "--json", action="store_true"
    )
    run = commands.add_parser("run", help="run one implementation and print the lesson's lines")
    run.add_argument("--impl", required=True, help=f"one of: {', '.join(IMPLEMENTATIONS)}")
    _problem_options(run)
    comp = commands.add_parser("compare", help="run implementations and check them against the reference")
    comp.add_argument("--impl", action="extend", nargs="+", help="one or more names (default: all that apply)")
    _problem_options(comp)
    for command in (run, comp):
        command.add_argument(
            "--workers",
            type=_count,
            default=parallel.DEFAULT_WORKERS,
            help=f"workers a data-parallel row splits each batch across, 1 to {parallel.MAX_WORKERS} "
            f"(default: {parallel.DEFAULT_WORKERS})",
        )
    grads = commands.add_parser("grads", help="the hand-derived gradient beside autograd's, step by step")
    grads.add_argument("--impl", action="extend", nargs="+", help=f"default: {' '.join(AUTOGRAD)}")
    _problem_options(grads)
    plot = commands.add_parser("plot", help="loss curves, the valley and three learning rates, as a PNG")
    plot.add_argument("--impl", action="extend", nargs="+", help="default: every installed one")
    plot.add_argument("--output", required=True, help="the .png file to write")
    _problem_options(plot)
    show_cmd = commands.add_parser("show", help="the loop of each implementation, from its source file")
    show_cmd.add_argument("--impl", action="extend", nargs="+", help="default: all")
    show_cmd.add_argument("--loop", choices=("one_weight", "batched", "network"), default="one_weight")
    show_cmd.add_argument("--side-by-side", action="store_true", help="columns, with the lesson's steps aligned")
    show_cmd.add_argument("--width", type=_count, default=72, help="columns of --side-by-side (8 to 1000)")
    drill = commands.add_parser("practice", help="the lesson's practice set, worked by the code")
    drill.add_argument("--impl", default="python", help="which implementation computes (default: python)")
    drill.add_argument("--json", action="store_true")
    bench = commands.add_parser("bench", help="time every implementation (pytest-benchmark), table and chart")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    bench.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu for torch, TensorFlow and JAX")
    bench.add_argument("--output-dir", default=".benchmarks", help="where the JSON and the PNG go")
    bench.add_argument("--results", help="report on an existing pytest-benchmark JSON instead of running")
    return parser


def entry() -> None:
    """The `descent` console script and `python -m bridge`: main(), then leave at once.

    The output is flushed and every Keras worker told to stop; what is skipped is
    the interpreter's teardown of torch, TensorFlow and JAX, which writes nothing
    and takes 1.7 s after `descent compare` (benchmarks/test_cli_latency.py).
    """
    try:
        code = main()
    except SystemExit as done:  # argparse's --help and its usage errors
        code = done.code if isinstance(done.code, int) else 2
    keras_process.close_all()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)


HANDLERS = {
    "bench": cmd_bench,
    "list": cmd_list,
    "run": cmd_run,
    "compare": cmd_compare,
    "grads": cmd_grads,
    "plot": cmd_plot,
    "show": cmd_show,
    "practice": cmd_practice,
}


if __name__ == "__main__":
    entry()
