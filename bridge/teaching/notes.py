"""What a person should be told about a run: the learning rate's direction, a divergence, the lesson's numbers."""

from __future__ import annotations

import math

import numpy as np

from bridge.problems import Batched, OneWeight, layered, loop_of, with_changes


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


def overshoot_note(problem) -> str | None:
    """Before the run's lines, where every step lands past the bottom (the error factor below 0): whether the
    weight zig-zags in, or out (the factor's size 1 or more). Where the factor is exact: one weight, one batch."""
    if layered(problem) or problem.lr <= 0 or problem.has_bias:
        return None  # a network's, or a bias's, distance to the bottom is not one number times a factor
    if isinstance(problem, Batched) and len(problem.batches) > 1:
        return None
    factor = error_factor(problem)
    if not math.isfinite(factor) or factor >= 0:
        return None
    if factor > -1:
        return (
            f"note: each step jumps past the bottom (it multiplies the distance to it by {factor:.3g}), "
            "but lands closer: the weight zig-zags in."
        )
    limit = problem.lr / (1 - factor) * 2  # the lr where the factor is -1: 1 / mean(x^2)
    return (
        f"note: each step multiplies the distance to the bottom by {factor:.3g}; its size is 1 or more, so every "
        f"step lands further away than the last and the loss grows. Try --lr below {limit:.3g}."
    )


CLOSE = 0.001  # a crawl's goal: within 0.1% of the distance it started from


def crawl_note(problem, trajectory) -> str | None:
    """After the run's lines, where a one-weight run stopped far from the bottom: how far it got, how long it needs."""
    if not isinstance(problem, OneWeight) or problem.x == 0 or not len(trajectory) or problem.lr <= 0:
        return None
    factor, bottom, last = error_factor(problem), problem.y / problem.x, trajectory.weights[-1]
    start = abs(problem.w0 - bottom)
    if not (0 < abs(factor) < 1 and math.isfinite(last) and start > 0) or abs(last - bottom) <= 0.01 * start:
        return None
    needed = math.ceil(math.log(CLOSE) / math.log(abs(factor)))
    steps = f"{problem.steps} step" + ("s" if problem.steps != 1 else "")
    return (
        f"note: still on its way: after {steps} the weight is {lesson_number(last)}, the bottom "
        f"{lesson_number(bottom)}; each step keeps {abs(factor):.3g} of the distance, so about {needed:,} steps "
        f"get within 0.1% of it (--steps {needed})."
    )


def narrowing_note(row, problem) -> str | None:
    """Before the run's lines, where a row computes a float64 problem partly in float32: why its last digits differ."""
    if not row.narrows or problem.dtype != "float64" or loop_of(problem) not in row.narrows_in:
        return None
    return (
        f"note: {row.name} computes this float64 problem partly in float32 ({row.framework.capitalize()}'s type "
        "promotion), so its last digits can differ from the lesson's; `descent compare --why` says where."
    )


def workers_note(trajectory) -> str | None:
    """After a data-parallel run's lines: its workers, where each ran, and the samples of each batch it took."""
    seen = trajectory.world.get("seen") if trajectory.workers else None
    if not seen:
        return None
    each = "; ".join(
        f"worker {s['worker']} ({s['on']}"
        + (f", process {s['pid']}" if "pid" in s else "")
        + ") "
        + "+".join(map(str, s["samples"]))
        for s in seen
    )
    if len(seen) == 1:
        return f"note: 1 worker, computing the gradient of each whole batch; the samples it took: {each}."
    engine = trajectory.world.get("engine", "the all-reduce")
    return (
        f"note: {len(seen)} workers, each computing the gradient of its own share of every batch, then {engine} "
        f"added them; the samples each took from the first epoch's batches: {each}."
    )


def notes(problem, trajectory) -> list[str]:
    """What a person should be told after a run's lines: the learning rate's direction, then any divergence,
    or how far a crawl got."""
    after = (
        learning_rate_note(problem),
        divergence_note(problem, trajectory) or crawl_note(problem, trajectory),
        workers_note(trajectory),
    )
    return [n for n in after if n]


def lesson_number(value: float) -> str:
    """The lesson's .3f, or a readable scientific form where .3f would print a wall of digits (from 1e6)."""
    return f"{value:.3e}" if math.isfinite(value) and abs(value) >= LARGEST_FIXED else f"{value:.3f}"


LARGEST_FIXED = 1e6  # .3f of 999999.999 is 10 characters; beyond, 1.000e+06 reads better than a wall of digits


def lr_variants(problem, rates=(0.01, 0.1, 0.9)) -> dict[float, object]:
    """The same problem at each learning rate of the lesson's activity."""
    return {rate: with_changes(problem, lr=rate) for rate in rates}


def network_heading(problem) -> str:
    """What a network's run prints above its losses: which loss, and where the per-step ones are."""
    return (
        f"loss over all {problem.x.size} samples (mean squared error), before training and after each of "
        f"{problem.epochs} epochs;\neach update's own loss (one batch's): --json"
    )


def network_number(value: float) -> str:
    """Three significant digits: a network's loss falls through many orders, and 0.000 would hide it."""
    return f"{value:.3g}"


def classifier_heading(problem, name: str) -> str:
    """What a classifier's run prints first: the data, the network, the optimizer, and what the lines show."""
    optimizer = (
        f"Adam (lr {problem.lr:g}, beta_1 {problem.beta_1:g}, beta_2 {problem.beta_2:g}, epsilon {problem.epsilon:g})"
        if problem.optimizer == "adam"
        else f"SGD (lr {problem.lr:g})"
    )
    loss = "from logits" if problem.from_logits else "from probabilities, clipped to [1e-7, 1 - 1e-7]"
    return (
        f"{name}: {problem.images.name}, {len(problem.labels)} training images and {len(problem.images.y_test)} "
        f"test images of {problem.inputs} pixels;\n"
        f"{problem.inputs} -> {problem.hidden} ReLU -> 10 softmax, cross-entropy {loss}, {optimizer}, "
        f"batches of {problem.batch_size}, {problem.epochs} epochs ({problem.updates} updates)\n"
        f"{'':8}  {'train loss':>10}  {'train accuracy':>14}  {'test loss':>10}  {'test accuracy':>13}"
    )


def classifier_lines(problem, trajectory) -> list[str]:
    """Before training, then after each epoch: loss and accuracy on the training and the test images; then evaluate."""
    scores = problem.epoch_scores(trajectory.parameters)
    lines = [
        f"{'start' if epoch == 0 else f'epoch {epoch}':<8}  {s['train_loss']:>10.4f}  {s['train_accuracy']:>14.2%}  "
        f"{s['test_loss']:>10.4f}  {s['test_accuracy']:>13.2%}"
        for epoch, s in enumerate(scores)
    ]
    last, tests = scores[-1], len(problem.images.y_test)
    right = round(last["test_accuracy"] * tests)
    accuracy = f"{last['test_accuracy']:.2%} ({right} of {tests} right)"
    lines.append(f"evaluate: test loss {last['test_loss']:.4f}, accuracy {accuracy}")
    return lines


def same_predictions(problem, predictions: dict, reference: str) -> tuple[list[str], dict]:
    """Whether every row predicts the reference's class for every test image; else, per row, the images where not,
    with both margins (the largest logit over the runner-up: a small one is a near tie, which rounding may tip)."""
    classes, margins = predictions[reference]
    differ = {}
    for name, (theirs, their_margins) in predictions.items():
        where = np.flatnonzero(theirs != classes)
        differ[name] = [
            {
                "image": int(i),
                "reference": int(classes[i]),
                "predicted": int(theirs[i]),
                "margins": [float(margins[i]), float(their_margins[i])],
            }
            for i in where
        ]
    tests = len(classes)
    apart = {name: found for name, found in differ.items() if found}
    if not apart:
        return [f"every row predicts the same class for each of the {tests} test images"], differ
    lines = []
    for name, found in apart.items():
        shown = ", ".join(
            f"image {d['image']}: {d['predicted']} where the reference says {d['reference']} "
            f"(margins {d['margins'][0]:.2g} and {d['margins'][1]:.2g})"
            for d in found[:5]
        )
        more = f" and {len(found) - 5} more (--json)" if len(found) > 5 else ""
        lines.append(f"{name} predicts another class for {len(found)} of {tests} test images: {shown}{more}")
    return lines, differ
