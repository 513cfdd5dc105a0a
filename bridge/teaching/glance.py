"""The lesson at a glance: each framework, whether its gradient is the hand-derived one, its path the hand loop's."""

from __future__ import annotations

from bridge.compare import claim_for, compare, shared_digits
from bridge.floats import same_bits
from bridge.problems import preset
from bridge.rows import KERAS_WORKER, REGISTRY, reference_row
from bridge.teaching.parity import one_step_problem
from bridge.training import rows_to_run, start, train


def glance(problem_name: str = "lesson") -> str:
    """One screen: each installed single-process row, how it finds its gradient, and how close gradient and path are.

    "gradient = hand": every step's gradient against the hand-derived one at the very weight the row stood on
    (the reference's loop, one step from there); "path = hand": every weight, loss and gradient against the
    hand loop's (descent compare's verdict, in its plain words).
    """
    problem = preset(problem_name)
    names = [name for name in rows_to_run(None, "cpu", problem)[0] if not REGISTRY[name].parallel]
    runs = {name: start(name, problem) for name in names}  # the Keras workers start at once, side by side
    reference = train(reference_row(), problem)
    lines = [f"{'row':<18}{'framework':<25}{'gradient by':<20}{'gradient = hand':<17}path = hand"]
    for name in names:
        row = REGISTRY[name]
        if row.reference:
            lines.append(f"{name:<18}{row.version():<25}{'hand':<20}{'(the reference)':<17}(the reference)")
            continue
        trajectory = runs[name]()
        verdict = compare(problem, reference, trajectory, claim_for(row, problem))
        lines.append(
            f"{name:<18}{row.version():<25}{_gradient_by(row):<20}"
            f"{_gradients_agree(problem, trajectory):<17}{verdict.in_words()}"
        )
    return "\n".join(lines)


def _gradient_by(row) -> str:
    if row.runner == KERAS_WORKER:
        return "Keras fit"
    how = "autodiff" if row.autodiff else "hand"
    return f"{how}, compiled" if row.compiled else how


def _gradients_agree(problem, trajectory) -> str:
    """same bits, or the significant digits each gradient shares with the hand-derived one at its own weight."""
    hand_row = reference_row()
    stood_on = [problem.w0, *trajectory.weights[:-1]]
    hand = [train(hand_row, one_step_problem(problem, k, w)).grads[0] for k, w in enumerate(stood_on)]
    if all(same_bits(a, b) for a, b in zip(hand, trajectory.grads)):
        return "same bits"
    return f"{shared_digits(hand, trajectory.grads, problem.dtype)} digits"
