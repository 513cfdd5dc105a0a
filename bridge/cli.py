"""The `descent` command: list, run, compare; grads, plot, show, practice; bench."""

from __future__ import annotations

import argparse
import json
import sys

from bridge.compare import compare, expected_departure
from bridge.errors import BridgeError, InvalidProblem
from bridge.floats import DTYPES
from bridge.problems import PRESETS, Batched, OneWeight, preset, with_changes
from bridge.registry import IMPLEMENTATIONS, REGISTRY, get, train
from bridge.teaching import AUTOGRAD, divergence_note, first_divergence, gradient_parity, practice, show

REFERENCE = "python"
ONE_WEIGHT_ONLY = ("x", "y", "steps")
BATCHED_ONLY = ("epochs", "batch_size", "b0")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


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
    group.add_argument("--dtype", default="float64", help=f"{' or '.join(DTYPES)} (default: float64)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu, for torch, TensorFlow and JAX")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _problem(args):
    """The preset named by --problem, with the command line's overrides applied."""
    base = preset(args.problem, args.dtype)
    changes = {k: getattr(args, k) for k in ("x", "y", "w0", "lr", "steps", "epochs", "batch_size", "b0")}
    changes = {k: v for k, v in changes.items() if v is not None}
    wrong = BATCHED_ONLY if isinstance(base, OneWeight) else ONE_WEIGHT_ONLY
    for name in wrong:
        if name in changes:
            kind = "one-weight" if isinstance(base, OneWeight) else "batched"
            flag = "--" + name.replace("_", "-")
            raise InvalidProblem(f"{flag} does not apply to {args.problem!r}, a {kind} problem")
    args.label = args.problem + (" (modified)" if changes else "")  # for headers and titles
    # overrides are plain floats: round them to the dtype like the preset's own numbers
    return with_changes(base, **changes) if changes else base


def describe(problem) -> dict:
    """The problem's parameters, for headers and JSON."""
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
    problem = _problem(args)
    trajectory = train(args.impl, problem, args.device)
    if args.json:
        out = {"problem": describe(problem) | {"name": args.problem}, **trajectory.to_dict()}
        print(json.dumps(out | {"diverged": first_divergence(trajectory)}, indent=2))
        return 0
    for step, (weight, loss) in enumerate(zip(trajectory.weights, trajectory.losses)):
        bias = f"  bias={trajectory.biases[step]:.3f}" if trajectory.biases else ""
        print(f"step {step:2d}  weight={weight:.3f}{bias}  loss={loss:.3f}")
    note = divergence_note(problem, trajectory)
    if note:
        print(note)
    return 0


def cmd_compare(args) -> int:
    names = args.impl or list(IMPLEMENTATIONS)
    for name in names:
        get(name)
    problem = _problem(args)
    reference = train(REFERENCE, problem)
    rows, skipped = [], []
    for name in names:
        impl = REGISTRY[name]
        if not impl.installed():
            if args.impl:  # asked for by name: missing is an error
                train(name, problem)  # raises FrameworkMissing with the extra to install
            skipped.append({"implementation": name, "install": impl.install_hint()})
            continue
        device = impl.device_for(args.device)
        trajectory = reference if name == REFERENCE else train(name, problem, device)
        verdict = compare(problem, reference, trajectory)
        rows.append(
            {
                "implementation": name,
                "framework": impl.version(),
                "dtype": problem.dtype,
                "device": device,
                "verdict": "reference" if name == REFERENCE else verdict.summary(),
                "final_weight": _finite_or_text(trajectory.weights[-1]) if len(trajectory) else problem.w0,
                "final_loss": _finite_or_text(trajectory.losses[-1]) if len(trajectory) else None,
                "detail": verdict.to_dict(),
                "_verdict": verdict,
                "_trajectory": trajectory,
            }
        )
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
        _print_table(args, problem, rows, skipped)
    return 0 if conforms else 1


def _print_table(args, problem, rows, skipped) -> None:
    info = describe(problem)
    shape = "one weight"
    if info["kind"] == "batched":
        shape = f"{info['n']} samples, batch {info['batch_size']}" + ("" if info["b0"] is None else ", weight and bias")
    print(
        f"problem {args.label}: {shape}, lr {problem.lr!r}, {problem.updates} updates, "
        f"{problem.dtype}; reference: {REFERENCE}"
    )
    header = ("implementation", "framework", "dtype", "device", "final weight", "final loss", "verdict")
    # each cause and note is printed once, below the table, and marked [n] in the rows that have it
    notes = list(dict.fromkeys(note for r in rows for note in r["_verdict"].footnotes()))
    table = [header] + [
        (
            r["implementation"],
            r["framework"],
            r["dtype"],
            r["device"],
            _number_text(r["final_weight"]),
            _number_text(r["final_loss"]),
            _marked(r, notes),
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    for number, note in enumerate(notes, 1):
        print(f"  [{number}] {note}")
    for r in rows:
        worst = r["_verdict"].worst
        if worst is not None:
            share = abs(worst.value - worst.reference) / worst.bound
            print(f"  {r['implementation']}: closest to its bound: {worst.describe()}, {share:.1%} of the bound")
    failed = [r for r in rows if not r["_verdict"].conforms]
    for r in failed:
        print(
            f"{r['implementation']}: {r['_verdict'].failure.describe()}; reproduce: "
            f"descent compare --impl {r['implementation']} --problem {args.problem} --dtype {problem.dtype}"
        )
    for s in skipped:
        print(f"{s['implementation']}: not installed, not compared ({s['install']})")
    print(
        f"{len(rows) - len(failed)} of {len(rows)} implementations conform"
        + (f"; {len(skipped)} not installed" if skipped else "")
        + "."
    )
    note = divergence_note(problem, rows[0]["_trajectory"]) if rows else None
    if note:
        print(note)


def cmd_grads(args) -> int:
    problem = _problem(args)
    parity = gradient_parity(problem, args.impl or AUTOGRAD, args.device)
    if args.json:
        print(json.dumps({"problem": describe(problem) | {"name": args.problem}, **parity}, indent=2, default=repr))
        return 0
    names = parity["implementations"]
    print(
        f"gradient parity on {args.problem} ({problem.dtype}): the hand-derived 2 * (pred - y) * x "
        "against the gradient each autograd finds"
    )
    width = max(12, *(len(n) for n in names))
    print(f"{'step':>4}  {'hand-derived':<24}" + "".join(f"{n:<{width + 2}}" for n in names))
    for row in parity["rows"]:
        cells = []
        for name in names:
            cell = row["autograd"][name]
            cells.append("exact" if cell["exact"] else f"{cell['ulps']:g} ULP" if cell["ulps"] else "exact (±0)")
        print(f"{row['step']:>4}  {row['hand']!r:<24}" + "".join(f"{c:<{width + 2}}" for c in cells))
    exact = {n: sum(row["autograd"][n]["exact"] for row in parity["rows"]) for n in names}
    steps = len(parity["rows"])
    print("; ".join(f"{n}: {exact[n]} of {steps} exact" for n in names) + ".")
    for name in names:
        departure = expected_departure(name, problem, REGISTRY[name].device_for(args.device))
        if exact[name] < steps and departure:
            print(f"  {name}: {departure.cause}")
    for name in parity["not_installed"]:
        print(f"{name}: not installed ({REGISTRY[name].install_hint()})")
    return 0


def cmd_plot(args) -> int:
    from bridge.plotting import plot

    names = args.impl or [n for n in IMPLEMENTATIONS if REGISTRY[n].installed()]
    for name in names:
        get(name)
    problem = _problem(args)
    width, height = plot(problem, names, args.output, args.label, args.device)
    print(f"wrote {args.output} ({width} x {height} pixels)")
    return 0


def cmd_show(args) -> int:
    names = args.impl or list(IMPLEMENTATIONS)
    for name in names:
        get(name)
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

    if not args.results:
        refusals(args.device)  # raises, in one line, when nothing installed can run there
    output = Path(args.output_dir)
    results = Path(args.results) if args.results else bench.run_suite(output, args.quick, args.device)
    if not results.exists():
        raise InvalidProblem(f"no benchmark results at {results}")
    summary = bench.summarise(results)
    output.mkdir(parents=True, exist_ok=True)
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
    parser = _Parser(prog="descent", description="One gradient-descent loop, six frameworks, one trajectory.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="the implementations, installed or not").add_argument(
        "--json", action="store_true"
    )
    run = commands.add_parser("run", help="run one implementation and print the lesson's lines")
    run.add_argument("--impl", required=True, help=f"one of: {', '.join(IMPLEMENTATIONS)}")
    _problem_options(run)
    comp = commands.add_parser("compare", help="run implementations and check them against the reference")
    comp.add_argument("--impl", action="extend", nargs="+", help="one or more names (default: all)")
    _problem_options(comp)
    grads = commands.add_parser("grads", help="the hand-derived gradient beside autograd's, step by step")
    grads.add_argument("--impl", action="extend", nargs="+", help=f"default: {' '.join(AUTOGRAD)}")
    _problem_options(grads)
    plot = commands.add_parser("plot", help="loss curves, the valley and three learning rates, as a PNG")
    plot.add_argument("--impl", action="extend", nargs="+", help="default: every installed one")
    plot.add_argument("--output", required=True, help="the .png file to write")
    _problem_options(plot)
    show_cmd = commands.add_parser("show", help="the loop of each implementation, from its source file")
    show_cmd.add_argument("--impl", action="extend", nargs="+", help="default: all")
    show_cmd.add_argument("--loop", choices=("one_weight", "batched"), default="one_weight")
    show_cmd.add_argument("--side-by-side", action="store_true", help="columns, with the lesson's steps aligned")
    show_cmd.add_argument("--width", type=int, default=72, help="column width for --side-by-side")
    drill = commands.add_parser("practice", help="the lesson's practice set, worked by the code")
    drill.add_argument("--impl", default="python", help="which implementation computes (default: python)")
    drill.add_argument("--json", action="store_true")
    bench = commands.add_parser("bench", help="time every implementation (pytest-benchmark), table and chart")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    bench.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu for torch, TensorFlow and JAX")
    bench.add_argument("--output-dir", default=".benchmarks", help="where the JSON and the PNG go")
    bench.add_argument("--results", help="report on an existing pytest-benchmark JSON instead of running")
    args = parser.parse_args(argv)
    handlers = {
        "bench": cmd_bench,
        "list": cmd_list,
        "run": cmd_run,
        "compare": cmd_compare,
        "grads": cmd_grads,
        "plot": cmd_plot,
        "show": cmd_show,
        "practice": cmd_practice,
    }
    try:
        return handlers[args.command](args)
    except BridgeError as error:
        print(f"descent: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
