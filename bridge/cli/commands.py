"""descent's commands: each reads its arguments, runs what it must, and prints for a person or as JSON."""

from __future__ import annotations

import json
import sys
from collections import Counter

from bridge import budget
from bridge.causes import in_plain_words
from bridge.claims import reference_problem
from bridge.cli.parser import problem_of
from bridge.cli.table import Table, describe
from bridge.compare import EPOCH_RECORDS, claim_for, compare, expected_departure
from bridge.console import Console
from bridge.errors import InvalidProblem
from bridge.files import writable_file, writable_folder
from bridge.parallel import check_workers
from bridge.problems import Classifier, Network, layered
from bridge.rows import IMPLEMENTATIONS, KERAS_WORKER, REGISTRY, get, reference_row
from bridge.teaching.notes import (
    classifier_heading,
    classifier_lines,
    first_divergence,
    lesson_number,
    narrowing_note,
    network_heading,
    network_number,
    notes,
    overshoot_note,
    same_predictions,
)
from bridge.teaching.parity import autograd_rows, grads_heading, grads_summary, parity_rows, step_kind
from bridge.teaching.practice import answered, practice, shown
from bridge.teaching.sources import show, show_parallel
from bridge.training import check_devices, held, refusals, rows_to_run, start, stored, train

SHOW_WIDTHS = (8, 1000)  # columns of `show --side-by-side`: narrower hides the code, wider no screen shows


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
    row = get(args.impl)
    workers = _workers(args)
    problem = problem_of(args)
    trajectory = train(args.impl, problem, args.device, workers)
    if args.json:
        out = {"problem": describe(problem) | {"name": args.problem}, **trajectory.to_dict()}
        print(json.dumps(out | {"diverged": first_divergence(trajectory)}, indent=2))
        return 0
    for note in (narrowing_note(row, problem), overshoot_note(problem)):  # before: from the start
        if note:
            print(note)
    if isinstance(problem, Classifier):  # per epoch: loss and accuracy on the training and the test images
        print(classifier_heading(problem, row.name))
        for line in classifier_lines(problem, trajectory):
            print(line)
        return 0
    if isinstance(problem, Network):  # a step's loss is one batch's: the network's is over all the data (--json: all)
        print(network_heading(problem))
        for epoch, loss in enumerate(problem.epoch_losses(trajectory.parameters)):
            print(f"{'start' if epoch == 0 else f'epoch {epoch:2d}':<8}  loss={network_number(loss)}")
    for step, (weight, loss) in enumerate(zip(trajectory.weights, trajectory.losses)):
        # the lesson's line; numbers from 1e6 in scientific form (teaching.lesson_number)
        bias = f"  bias={lesson_number(trajectory.biases[step])}" if trajectory.biases else ""
        print(f"step {step:2d}  weight={lesson_number(weight)}{bias}  loss={lesson_number(loss)}")
    for note in notes(problem, trajectory):
        print(note)
    return 0


def _workers(args) -> int:
    """--workers, checked whether or not a data-parallel row is asked for: a bad value is never ignored."""
    try:
        return check_workers(args.workers)
    except InvalidProblem as error:
        raise InvalidProblem(f"--{error}") from None


def cmd_compare(args) -> int:
    workers = _workers(args)
    problem = problem_of(args)
    if getattr(problem, "layers_every", 1) > 1:  # refused before anything trains
        raise InvalidProblem(EPOCH_RECORDS)
    names, skipped = rows_to_run(args.impl, args.device, problem)
    budget.check(held(problem, names), "this comparison")
    console = Console(plain=args.json)
    # Keras rows train in worker processes: all of them start now, while the rows in this process run
    runs = {n: start(n, problem, REGISTRY[n].device_for(args.device), workers) for n in names}
    table = Table(console, args, problem, names)
    reference_name = reference_row().name
    reference = train(reference_name, problem)
    moved = {}  # the reference on the problem moved as a row's Adam is written (its epsilon), each run once

    def held_to(impl):
        """The problem and reference trajectory this row is compared with."""
        own = reference_problem(impl, problem)
        if own is problem:
            return problem, reference
        if repr(own) not in moved:
            console.status(f"the reference with Adam's epsilon where {impl.name} puts it…")
            moved[repr(own)] = (own, train(reference_name, own))
        return moved[repr(own)]

    rows = []
    for name in names:
        impl = REGISTRY[name]
        device = impl.device_for(args.device)
        console.status(_starting(name))
        trajectory = reference if name == reference_name else runs[name]()
        own, against = held_to(impl)  # the claim is the row's on the problem asked for
        verdict = compare(own, against, trajectory, claim_for(impl, problem, device, workers))
        row = {
            "implementation": name,
            "framework": impl.version(),
            "dtype": problem.dtype,
            "device": str(device),
            "workers": workers if impl.parallel else 1,
            "verdict": "reference" if name == reference_name else verdict.summary(),
            "final_weight": _final_weight(problem, trajectory),
            "final_loss": _finite_or_text(trajectory.losses[-1]) if len(trajectory) else None,
            "detail": verdict.to_dict(),
            "_verdict": verdict,
        }
        if isinstance(problem, Network):  # a step's loss is one sample's: the network's, over all of them, per epoch
            row["epoch_losses"] = [_finite_or_text(v) for v in problem.epoch_losses(trajectory.parameters)]
        if isinstance(problem, Classifier):  # evaluate: each row's trained network on the test images
            scores = problem.epoch_scores(trajectory.parameters)
            row["epoch_scores"], row["evaluate"] = scores, {k: v for k, v in scores[-1].items() if "test" in k}
            row["_predictions"] = problem.predictions(problem.final(trajectory.parameters))
        rows.append(row)
        table.row(row)
    conforms = all(row["_verdict"].conforms for row in rows)
    said = []
    if isinstance(problem, Classifier):  # every row predicts the same class for every test image, or where not
        predictions = {reference_name: problem.predictions(problem.final(reference.parameters))}  # asked for or not
        predictions |= {r["implementation"]: r["_predictions"] for r in rows}
        found = same_predictions(problem, predictions, reference_name)
        said, differ = found
        for r in rows:
            r["predictions_differ"] = differ.get(r["implementation"], [])
    if args.json:
        out = {
            "problem": describe(problem) | {"name": args.problem},
            "reference": reference_name,
            "conforms": conforms,
            "rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            "not_installed": skipped,
        }
        print(json.dumps(out, indent=2))
    else:
        table.end(rows, skipped, [*said, *notes(problem, reference)])
    return 0 if conforms else 1


def _final_weight(problem, trajectory):
    """The last weight: the one-weight and batched models' w; a network or a classifier has no one weight (None)."""
    if layered(problem):
        return None
    return _finite_or_text(trajectory.weights[-1]) if len(trajectory) else problem.w0


def _starting(name: str) -> str:
    """What a person waits for while this row starts: a framework's import, a Keras worker, or the run."""
    impl = REGISTRY[name]
    if impl.runner == KERAS_WORKER:
        return f"{name}: waiting for its Keras worker (Keras on {impl.backend}, in a process of its own)…"
    if impl.parallel:
        return f"{name}: starting its launcher and workers (processes of their own)…"
    if impl.framework and impl.framework not in sys.modules:
        return f"{name}: importing {impl.framework}…"
    return f"{name}: training…"


def cmd_grads(args) -> int:
    problem = problem_of(args)
    wanted = args.impl or list(autograd_rows(problem))
    for name in wanted:
        if get(name).parallel:  # grads retrains one step at a time: a launcher and its workers per step
            raise InvalidProblem(
                f"descent grads compares single-process rows; {name} is data-parallel: "
                f"descent compare --impl python {name} checks its every gradient"
            )
    names = [n for n in dict.fromkeys(wanted) if REGISTRY[n].installed()]
    missing = [n for n in dict.fromkeys(wanted) if n not in names]
    check_devices(names, args.device)
    reference_name = reference_row().name
    budget.check({n: stored(n, problem) for n in [reference_name, *names]}, "this gradient table")
    console = Console(plain=args.json)
    console.status(f"the reference ({reference_name}), then {', '.join(names) or 'nothing else'}…")
    steps = parity_rows(problem, names, args.device)
    if args.json:
        parity = {"implementations": names, "not_installed": missing, "rows": list(steps)}
        print(json.dumps({"problem": describe(problem) | {"name": args.problem}, **parity}, indent=2, default=repr))
        return 0
    network = layered(problem)  # a network's or a classifier's: per layer
    for line in grads_heading(problem, args.label, names):
        console.line(line)
    width = max(12, *(len(n) for n in names)) if names else 12
    first = f"{'step':>4}  {'entry':<6}  {'hand-derived':<24}" if network else f"{'step':>4}  {'hand-derived':<24}"
    console.line(first + "".join(f"{n:<{width + 2}}" for n in names))
    tally = {n: Counter() for n in names}
    count = 0

    def cell_text(cell) -> str:
        text = "same bits" if cell["exact"] else f"{cell['ulps']:g} ULP" if cell["ulps"] else "equal, ±0"
        return console.paint(text, "bitwise" if cell["exact"] else "bounded") + " " * (width + 2 - len(text))

    for row in steps:  # each step's line as soon as every implementation has given its gradient
        if network:  # per layer, its largest entry (--all: every entry); a step is the same where every layer is
            for layer, values in row["hand"].items():
                for i in range(len(values)) if args.all else [max(range(len(values)), key=lambda k: abs(values[k]))]:
                    entry = layer if len(values) == 1 else f"{layer}[{i}]"
                    layer_cells = [row["autograd"][n][layer] for n in names]  # --all: each entry's own cell
                    cells = "".join(cell_text(c["each"][i] if args.all else c) for c in layer_cells)
                    console.line(f"{row['step']:>4}  {entry:<6}  {values[i]!r:<24}" + cells.rstrip())
            for name in names:
                tally[name][step_kind(row["autograd"][name].values())] += 1
        else:
            for name in names:
                tally[name][step_kind([row["autograd"][name]])] += 1
            cells = "".join(cell_text(row["autograd"][n]) for n in names)
            console.line(f"{row['step']:>4}  {row['hand']!r:<24}" + cells.rstrip())
        count += 1
        console.status(f"step {count + 1} of {problem.updates}…")
    for name in names:
        console.line(grads_summary(name, tally[name], count, network))
    for name in names:
        departure = expected_departure(name, problem, REGISTRY[name].device_for(args.device))
        if tally[name]["same bits"] < count and departure:
            console.line(
                f"  {name}: {departure.cause if args.why else in_plain_words(departure) + ' (--why: in full)'}"
            )
    for name in missing:
        console.line(f"{name}: not installed ({REGISTRY[name].install_hint()})")
    return 0


def cmd_plot(args) -> int:
    from bridge.plotting import plot

    target = writable_file(args.output, "--output", ".png")  # before any training: a bad path costs nothing
    problem = problem_of(args)
    # the reference draws the lesson; the rows asked for join its loss curve (all of them: --impl and their names)
    names, _ = rows_to_run([reference_row().name, *(args.impl or [])], args.device, problem)
    if not names:
        raise InvalidProblem("no implementation to plot is installed")
    together = {n: stored(n, problem) for n in names}
    together[names[0]] += 3 * stored(names[0], problem)  # and the lesson's other learning rates
    budget.check(together, "this plot")
    console = Console()

    def run(name, problem):
        return train(name, problem, REGISTRY[name].device_for(args.device))

    width, height = plot(problem, names, target, args.label, run, console.status)
    console.line(f"wrote {args.output} ({width} x {height} pixels)")
    return 0


def cmd_show(args) -> int:
    names = args.impl or list(IMPLEMENTATIONS)
    for name in names:
        get(name)
    if args.width is not None and not SHOW_WIDTHS[0] <= args.width <= SHOW_WIDTHS[1]:
        low, high = SHOW_WIDTHS
        raise InvalidProblem(f"--width must be a whole number from {low} to {high}, got {args.width}")
    if args.impl and all(REGISTRY[n].parallel for n in names):  # each beside the single-process loop it splits
        print("\n\n".join(show_parallel(n, args.width, args.full) for n in dict.fromkeys(names)))
        return 0
    print(show(names, args.loop, args.side_by_side, args.width, args.full))
    return 0


def cmd_practice(args) -> int:
    if args.impl is not None:
        get(args.impl)
    answers = practice(args.impl)
    if args.json:
        print(json.dumps(answers, indent=2))
        return 0 if all(item["got"] == item["answer"] for item in answers) else 1
    asking = not args.answers and asks()
    for number, item in enumerate(answers, 1):
        print(f"{number}. {item['question']}")
        if asking:  # the student answers first; Enter alone just shows the answer
            typed = input("   your answer (Enter to see it): ")
            if typed.strip():
                print("   right!" if answered(typed, item["answer"]) else "   not quite: here is how it goes")
        mark = "the code agrees" if item["got"] == item["answer"] else f"the code got {shown(item['got'])}: WRONG"
        print(f"   {item['computed']}\n   answer: {shown(item['answer'])} ({mark})")
    return 0 if all(item["got"] == item["answer"] for item in answers) else 1


def asks() -> bool:
    """Whether practice asks: a person at a terminal, both ways (a pipe or a file gets every answer)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_bench(args) -> int:
    from pathlib import Path

    from bridge import bench

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
    charted = bench.chart(summary, output / "step_time.png")
    written = [results, output / "summary.json", *([output / "step_time.png"] if charted else [])]
    print(f"\nwrote {', '.join(map(str, written[:-1]))} and {written[-1]}")
    return 0
