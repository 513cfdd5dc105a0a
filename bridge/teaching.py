"""Teaching views: gradient parity, the loops' own sources, divergence, the practice set."""

from __future__ import annotations

import ast
import importlib.util
import math
import re

import numpy as np

from bridge.compare import network_starts
from bridge.floats import same_bits, ulp_distance
from bridge.problems import Batched, Network, OneWeight, preset, with_changes
from bridge.registry import get, train

AUTOGRAD = ("python_autograd", "torch_autograd", "tf_tape", "jax_grad")  # gradients not typed by hand


def one_step_problem(problem, step: int, weight):
    """The problem's update number `step` alone, starting from `weight` (a network's: its parameters by name)."""
    if isinstance(problem, Network):
        b = problem.batches[step % len(problem.batches)]
        start = {"w1": weight["W1"], "b1": weight["b1"], "w2": weight["W2"], "b2": weight["b2"][0]}
        return with_changes(problem, x=problem.x[b], y=problem.y[b], epochs=1, batch_size=b.stop - b.start, **start)
    if isinstance(problem, OneWeight):
        return with_changes(problem, w0=weight, steps=1)
    b = problem.batches[step % len(problem.batches)]
    return Batched(problem.x[b], problem.y[b], weight, problem.lr, 1, b.stop - b.start, problem.dtype)


def gradient_parity(problem, names=AUTOGRAD, device: str = "cpu") -> dict:
    """Per step, at the reference's weight: the hand-derived gradient beside each autograd's, and their distance."""
    installed = [n for n in names if get(n).installed()]
    rows = list(parity_rows(problem, installed, device))
    return {"implementations": installed, "not_installed": [n for n in names if n not in installed], "rows": rows}


def parity_rows(problem, names, device: str = "cpu"):
    """gradient_parity's rows, one step at a time, each as soon as every implementation has given its gradient."""
    if isinstance(problem, Network):
        yield from _layer_parity_rows(problem, names, device)
        return
    reference = train("python", problem)
    hand = reference.grads
    starts = [problem.w0, *reference.weights[:-1]]
    whole = {}  # once the weight is inf or NaN, no one-step problem can start there: use whole runs

    def grad_at(name, step):
        where = get(name).device_for(device)
        if math.isfinite(starts[step]):  # the same weight for all: no drift between runs
            return train(name, one_step_problem(problem, step, starts[step]), where).grads[0]
        if name not in whole:
            whole[name] = train(name, problem, where).grads
        return whole[name][step]

    for step, g in enumerate(hand):
        found = {n: grad_at(n, step) for n in names}
        cells = {
            n: {"grad": found[n], "ulps": ulp_distance(g, found[n], problem.dtype), "exact": same_bits(g, found[n])}
            for n in names
        }
        yield {"step": step, "hand": g, "autograd": cells}


def _layer_parity_rows(problem, names, device: str):
    """A network's parity rows: per step, each layer's hand-derived gradient, and per autograd how far each layer is.

    Each cell: exact (every entry bit for bit), or the largest distance in ULP over the layer's entries.
    """
    reference = train("python", problem)
    starts = network_starts(problem, reference)
    whole = {}

    def grads_at(name, step):
        where = get(name).device_for(device)
        finite = all(math.isfinite(v) for values in starts[step].values() for v in values)
        if finite:  # every row from the reference's parameters: the gradient computation alone, no drift
            run = train(name, one_step_problem(problem, step, starts[step]), where)
            return {n: rows[0] for n, rows in run.gradients.items()}
        if name not in whole:
            whole[name] = train(name, problem, where).gradients
        return {n: rows[step] for n, rows in whole[name].items()}

    for step in range(len(reference)):
        hand = {n: rows[step] for n, rows in reference.gradients.items()}
        cells = {}
        for name in names:
            found = grads_at(name, step)
            cells[name] = {}
            for layer, values in hand.items():
                ulps = [ulp_distance(a, b, problem.dtype) for a, b in zip(values, found[layer])]
                exact = all(same_bits(a, b) for a, b in zip(values, found[layer]))
                cells[name][layer] = {"grad": found[layer], "ulps": max(ulps), "exact": exact}
        yield {"step": step, "hand": hand, "autograd": cells}


def error_factor(problem) -> float:
    """What one full-batch step multiplies the distance to the bottom by: 1 - 2 lr mean(x^2).

    Written with * rather than **: CPython's float ** raises OverflowError where * gives inf.
    """
    if isinstance(problem, Batched):
        with np.errstate(over="ignore"):
            x = problem.x.astype(np.float64)
            mean_x2 = float(np.mean(x * x))
    else:
        mean_x2 = problem.x * problem.x
    return 1 - 2 * problem.lr * mean_x2


QUANTITIES = ("loss", "gradient", "weight", "bias gradient", "bias")  # in the order a step computes them


def first_divergence(trajectory) -> dict | None:
    """Where the run left the finite numbers: the first such step, what became inf or NaN there, first NaN weight."""
    step = trajectory.first_non_finite()
    if step is None:
        return None
    if trajectory.parameters:  # a network: the loss, then each layer's gradient and values
        at_step = {"loss": [trajectory.losses[step]]}
        at_step |= {f"gradient of {n}": rows[step] for n, rows in trajectory.gradients.items()}
        at_step |= {n: rows[step] for n, rows in trajectory.parameters.items()}
        became = {
            q: repr(next(v for v in vs if not math.isfinite(v)))
            for q, vs in at_step.items()
            if not all(map(math.isfinite, vs))
        }
        rows = zip(*trajectory.parameters.values())
        nan_weight = next((k for k, row in enumerate(rows) if any(math.isnan(v) for r in row for v in r)), None)
        return {"step": step, "non_finite": became, "first_nan_weight": nan_weight}
    values = [trajectory.losses, trajectory.grads, trajectory.weights, trajectory.bias_grads, trajectory.biases]
    at_step = {q: v[step] for q, v in zip(QUANTITIES, values) if step < len(v)}
    became = {q: repr(v) for q, v in at_step.items() if not math.isfinite(v)}
    nan_weight = next((k for k, w in enumerate(trajectory.weights) if math.isnan(w)), None)
    return {"step": step, "non_finite": became, "first_nan_weight": nan_weight}


def divergence_note(problem, trajectory) -> str | None:
    """The lesson's warning, said plainly, when a run blew up; else None."""
    where = first_divergence(trajectory)
    if where is None:
        return None
    (quantity, value), *rest = where["non_finite"].items()
    became = [f"the {quantity} became {value}", *(f"the {q} {v}" for q, v in rest)]
    listed = became[0] if len(became) == 1 else ", ".join(became[:-1]) + " and " + became[-1]
    note = f"diverged: at step {where['step']} {listed}"
    nan_step = where["first_nan_weight"]
    if nan_step is not None and not (nan_step == where["step"] and "weight" in where["non_finite"]):
        note += f"; the {'parameters' if trajectory.parameters else 'weight'} became nan at step {nan_step}"
    if isinstance(problem, OneWeight):
        note += f"; each step multiplies the error by {error_factor(problem):.3g}"
    if problem.lr > 0:
        return note + f". The learning rate is the first dial to check: try a smaller --lr than {problem.lr:g}."
    return note + ". The learning rate is the first dial to check: it must be positive to go downhill."


def learning_rate_note(problem) -> str | None:
    """One line for a learning rate that does not go downhill (zero or negative); else None."""
    if problem.lr == 0:
        return "note: lr 0 never moves the weight: each step subtracts 0 * gradient, so the loss stays where it starts."
    if problem.lr < 0:
        return (
            f"note: lr {problem.lr:g} is negative: subtracting a negative multiple of the gradient steps uphill, "
            "so the loss grows. Gradient descent needs lr > 0."
        )
    return None


def notes(problem, trajectory) -> list[str]:
    """What a person should be told after a run's lines: the learning rate's direction, then any divergence."""
    return [n for n in (learning_rate_note(problem), divergence_note(problem, trajectory)) if n]


def lesson_number(value: float) -> str:
    """The lesson's .3f, or a readable scientific form where .3f would print a wall of digits (beyond 1e15)."""
    return f"{value:.3e}" if math.isfinite(value) and abs(value) >= LARGEST_FIXED else f"{value:.3f}"


LARGEST_FIXED = 1e15  # .3f of 1e15 is 1000000000000000.000: 20 characters, still readable; 1e16 is not


# ---- the loops' own source, read from the files (never imported, so never drifting) ----

STEP = re.compile(r"#\s*(\d)(?:-\d)?:")  # the lesson's step comments: "# 1-2: predict", "# 3: ...", "# 4: ..."


def loop_source(name: str, loop: str = "one_weight") -> list[str]:
    """The loop function of impl/<name>.py and the module-level code it uses, as source lines."""
    spec = importlib.util.find_spec(get(name).module)
    text = open(spec.origin, encoding="utf-8").read()
    lines = text.splitlines()
    tree = ast.parse(text)
    top = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    top[target.id] = node
    wanted, todo = set(), [loop]
    while todo:  # the loop, then whatever top-level names it (transitively) uses
        current = todo.pop()
        if current in top and current not in wanted:
            wanted.add(current)
            todo += [n.id for n in ast.walk(top[current]) if isinstance(n, ast.Name)]
    nodes = sorted({id(top[n]): top[n] for n in wanted}.values(), key=lambda n: n.lineno)
    out = []
    for node in nodes:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out += lines[start - 1 : node.end_lineno] + [""]
    return out[:-1]


def _path(name: str) -> str:
    return get(name).module.replace(".", "/") + ".py"


def _segments(lines: list[str]) -> dict[str, list[str]]:
    """Split source at the first comment of each lesson step: before, 1, 3, 4."""
    order = ["before", "1", "3", "4"]
    segments, key = {k: [] for k in order}, "before"
    for line in lines:
        match = STEP.search(line)
        if match and match.group(1) in order and order.index(match.group(1)) > order.index(key):
            key = match.group(1)
        segments[key].append(line)
    return segments


def show(names, loop: str = "one_weight", side_by_side: bool = False, width: int = 72) -> str:
    """The loops one after the other, or side by side with the lesson's steps aligned.

    A row without the loop (a data-parallel row has only the batched one) shows the loop its workers run.
    """
    sources = {n: loop_source(n, loop if loop in get(n).loops else get(n).worker_loop) for n in names}
    if not side_by_side:
        blocks = [f"==> {n} ({_path(n)}) <==\n" + "\n".join(src) for n, src in sources.items()]
        return "\n\n".join(blocks)
    return _columns(sources, width)


def _columns(sources: dict[str, list[str]], width: int) -> str:
    """Each row's source in a column, the lesson's steps aligned across them."""
    names = list(sources)
    parts = {n: _segments(src) for n, src in sources.items()}

    def cell(text: str) -> str:
        return text[: width - 1] + "…" if len(text) > width else text.ljust(width)

    rows = [" │ ".join(cell(f"{n} ({_path(n)})") for n in names), "─┼─".join("─" * width for _ in names)]
    for key in ("before", "1", "3", "4"):
        height = max(len(parts[n][key]) for n in names)
        if key != "before" and height:
            rows.append(" │ ".join(cell(f"---- step {'1-2' if key == '1' else key} ----") for _ in names))
        for i in range(height):
            rows.append(" │ ".join(cell(parts[n][key][i] if i < len(parts[n][key]) else "") for n in names))
    return "\n".join(row.rstrip() for row in rows)


def show_parallel(name: str, width: int = 72) -> str:
    """A data-parallel row's loop beside its single-process one, and what changes between them."""
    from bridge.compare import COMBINE, UNREPLAYED

    single = get(name).single
    combine = COMBINE[name].rule if name in COMBINE else UNREPLAYED[name]
    changes = (
        f"what changes from {single} to {name}: each batch is split across the workers in data order "
        "(bridge.parallel.shards); each worker's loss is its share of the batch's mean, sum / n with n the whole "
        f"batch's real size, so shares of a short or empty split still add up to the mean; and the workers' "
        f"gradients are combined by the all-reduce: {combine}.\n"
        "what does not: predict, the squared error, and the step w = w - lr * grad, the same on every worker."
    )
    sources = {single: loop_source(single, "batched"), name: loop_source(name, get(name).worker_loop)}
    return _columns(sources, width) + "\n\n" + changes


# ---- the lesson's practice set, worked by the code ----


def practice(name: str = "python") -> list[dict]:
    """Each practice question with the answer the code computes and the lesson's answer."""
    lesson = train(name, preset("lesson"))
    guess = train(name, OneWeight(x=1.0, y=8.0, w0=5.0, lr=0.1, steps=1))
    step = train(name, preset("practice"))
    explode = train(name, preset("explode"))
    overshoot = train(name, preset("overshoot"))
    errors = [w - 2.0 for w in [0.0, *overshoot.weights[:4]]]  # the lesson's weight 2 is the bottom
    factor = errors[1] / errors[0]
    direction = "increase the weight" if step.grads[0] < 0 else "decrease the weight"
    where = first_divergence(explode)
    return [
        {
            "question": "Read the loss: what does step 0's loss=9.000 say?",
            "computed": f"(pred - y)^2 = (0 - 3)^2 = {lesson.losses[0]:g}: the prediction is 3 below the truth",
            "answer": 9.0,
            "got": lesson.losses[0],
        },
        {
            "question": "Compute a loss: prediction 5, truth 8",
            "computed": f"(5 - 8)^2 = {guess.losses[0]:g}",
            "answer": 9.0,
            "got": guess.losses[0],
        },
        {
            "question": "Pick the direction: weight 1, input 2, truth 6; which way to step?",
            "computed": f"gradient {step.grads[0]:g} < 0, so the loss falls as the weight grows: {direction}",
            "answer": "increase the weight",
            "got": direction,
        },
        {
            "question": "Diagnose the exploding run: lr 0.9 on the lesson's problem",
            "computed": f"each step multiplies the error by {factor:.4g}; |{factor:.4g}| > 1, so it grows until the "
            f"loss is inf at step {where['step']}: lower the learning rate",
            "answer": round(1 - 2 * 0.9 * 1.5**2, 10),
            "got": round(factor, 10),
        },
        {
            "question": "Trace one step: weight 1, input 2, truth 6, lr 0.1",
            "computed": f"pred 2, loss {step.losses[0]:g}, gradient {step.grads[0]:g}, "
            f"new weight {step.weights[0]:.3f}",
            "answer": (16.0, -16.0, "2.600"),
            "got": (step.losses[0], step.grads[0], f"{step.weights[0]:.3f}"),
        },
    ]


def lr_variants(problem, rates=(0.01, 0.1, 0.9)) -> dict[float, object]:
    """The same problem at each learning rate of the lesson's activity."""
    return {rate: with_changes(problem, lr=rate) for rate in rates}


__all__ = [
    "AUTOGRAD",
    "divergence_note",
    "first_divergence",
    "gradient_parity",
    "learning_rate_note",
    "lesson_number",
    "loop_source",
    "notes",
    "practice",
    "show",
]
