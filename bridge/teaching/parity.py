"""Gradient parity: per step, at the reference's weights, the hand-derived gradient beside each autograd's."""

from __future__ import annotations

import math

from bridge.bounds import network_starts
from bridge.floats import same_bits, ulp_distance
from bridge.images import Images
from bridge.problems import Batched, Classifier, Network, OneWeight, layered, with_changes
from bridge.rows import IN_PROCESS, REGISTRY, get, reference_row
from bridge.training import train


def autograd_rows(problem=None) -> tuple[str, ...]:
    """The rows whose gradient nobody typed: eager autodiff in this process (descent grads' default); given a
    problem, those with a loop for it."""
    return tuple(
        row.name
        for row in REGISTRY.values()
        if row.autodiff and not row.compiled and row.runner == IN_PROCESS and (problem is None or row.applies(problem))
    )


def one_step_problem(problem, step: int, weight):
    """The problem's update number `step` alone, starting from `weight` (a network's: its parameters by name)."""
    if isinstance(problem, Classifier):  # its batch alone as the training images, the test images kept
        b, images = problem.batches[step % len(problem.batches)], problem.images
        batch = Images(images.name, problem.x[b], problem.labels[b], images.x_test, images.y_test)
        start = {"w1": weight["W1"], "b1": weight["b1"], "w2": weight["W2"], "b2": weight["b2"]}
        return with_changes(problem, images=batch, train_size=None, epochs=1, batch_size=b.stop - b.start, **start)
    if isinstance(problem, Network):
        b = problem.batches[step % len(problem.batches)]
        start = {"w1": weight["W1"], "b1": weight["b1"], "w2": weight["W2"], "b2": weight["b2"][0]}
        return with_changes(problem, x=problem.x[b], y=problem.y[b], epochs=1, batch_size=b.stop - b.start, **start)
    if isinstance(problem, OneWeight):
        return with_changes(problem, w0=weight, steps=1)
    b = problem.batches[step % len(problem.batches)]
    return Batched(problem.x[b], problem.y[b], weight, problem.lr, 1, b.stop - b.start, problem.dtype)


def gradient_parity(problem, names=None, device: str = "cpu") -> dict:
    """Per step, at the reference's weight: the hand-derived gradient beside each autograd's, and their distance."""
    names = autograd_rows() if names is None else names
    installed = [n for n in names if get(n).installed()]
    rows = list(parity_rows(problem, installed, device))
    return {"implementations": installed, "not_installed": [n for n in names if n not in installed], "rows": rows}


def parity_rows(problem, names, device: str = "cpu"):
    """gradient_parity's rows, one step at a time, each as soon as every implementation has given its gradient."""
    if layered(problem):
        yield from _layer_parity_rows(problem, names, device)
        return
    reference = train(reference_row(), problem)
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

    Each cell: exact (every entry bit for bit), or the largest distance in ULP over the layer's entries; and
    the same for each entry alone ("each").
    """
    reference = train(reference_row(), problem)
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
                each = [same_bits(a, b) for a, b in zip(values, found[layer])]
                cells[name][layer] = {"grad": found[layer], "ulps": max(ulps), "exact": all(each)}
                cells[name][layer] |= {"each": [{"exact": e, "ulps": u} for e, u in zip(each, ulps)]}
        yield {"step": step, "hand": hand, "autograd": cells}


def step_kind(cells) -> str:
    """A step of one row, in words: the same bits in every cell, equal but for the sign of a zero, or not."""
    if all(cell["exact"] for cell in cells):
        return "same bits"
    return "equal, ±0" if all(cell["ulps"] == 0 for cell in cells) else "ULPs apart"


def grads_heading(problem, label: str, names) -> list[str]:
    """What descent grads compares: the formula the reference computes by hand, against what each row does."""
    if isinstance(problem, Classifier):
        formula = "the batch's mean cross-entropy: (p - onehot) / m, backpropagated by hand layer by layer"
    elif isinstance(problem, Network):
        formula = "the batch's mean squared error, backpropagated by hand layer by layer"
    elif isinstance(problem, OneWeight):
        formula = "2 * (pred - y) * x, by hand"
    else:
        formula = "mean(2 * (pred - y) * x) over the batch, by hand" + (
            " (the bias: mean(2 * (pred - y)))" if problem.has_bias else ""
        )
    how = ", ".join(f"{n} {_how(get(n))}" for n in names)
    lines = [
        f"gradient parity on {label} ({problem.dtype}), at the reference's weights each step",
        f"  hand: {formula}",
    ]
    lines.append(f"  against: {how or 'nothing installed'}")
    if layered(problem):
        lines.append("  each layer's largest entry shown (--all: every entry); a cell speaks for the whole layer")
    return lines


def _how(row) -> str:
    """How a row finds its gradient, in a word or three."""
    how = "autodiff" if row.autodiff else "typed by hand"
    return f"({how}, compiled)" if row.compiled else f"({how})"


def grads_summary(name: str, tally, count: int, network: bool) -> str:
    """One row's count, in the cells' own words: a step is counted where every cell of it says so."""
    where = " in every layer" if network else ""
    said = f"{name}: {tally['same bits']} of {count} steps the same bits{where}"
    if tally["equal, ±0"]:
        said += f", {tally['equal, ±0']} equal but for the sign of a zero (0.0 and -0.0)"
    if tally["ULPs apart"]:
        said += f", {tally['ULPs apart']} some ULPs apart"
    return said + "."
