"""What a person should be told about a run: the learning rate's direction, a divergence, the lesson's numbers."""

from __future__ import annotations

import math

import numpy as np

from bridge.problems import Batched, OneWeight, with_changes


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


def lr_variants(problem, rates=(0.01, 0.1, 0.9)) -> dict[float, object]:
    """The same problem at each learning rate of the lesson's activity."""
    return {rate: with_changes(problem, lr=rate) for rate in rates}
