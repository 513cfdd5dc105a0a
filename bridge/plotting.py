"""The lesson's pictures: one loss curve from every implementation, the valley, three learning rates.

A network (bridge.Network) gets its own: its loss over all the data per epoch, the function it fits
as training goes on beside the best a single weight can do, and the size of
each layer's gradient per step. A classifier (bridge.Classifier): every row's
loss and accuracy per epoch, and the first test images with what it says each is.

Uses matplotlib's object API with the Agg canvas, never pyplot, so drawing a
file changes no global backend (a notebook's display keeps working).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from bridge.errors import FrameworkMissing
from bridge.files import writable_file, written_whole
from bridge.problems import Batched, Classifier, Network
from bridge.teaching.notes import error_factor, lr_variants

SIZE_INCHES, DPI = (16, 10), 100  # 1600 x 1000 pixels: readable on a projector
MARKERS = "osD^v<>ph*"


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise FrameworkMissing("descent plot needs matplotlib: pip install 'descent-bridge[plot]'") from None
    return Figure, FigureCanvasAgg


def valley(problem):
    """Loss as a function of the weight (and the bias, if any), over all the problem's samples.

    With a bias, bias=None means the best bias for that weight, mean(y - w x):
    the floor of the two-dimensional valley, seen along the weight.
    """
    if isinstance(problem, Batched):
        x, y = problem.x.astype(np.float64), problem.y.astype(np.float64)

        def loss(w, b=0.0):
            errors = np.multiply.outer(w, x) - y
            if problem.has_bias:
                b = -np.mean(errors, axis=-1) if b is None else np.asarray(b, dtype=np.float64)
                errors = errors + np.expand_dims(b, -1)
            return np.mean(errors**2, axis=-1)

        return loss
    return lambda w, b=0.0: (np.asarray(w) * problem.x - problem.y) ** 2


def _finite(values):
    return [v for v in values if math.isfinite(v)]


LARGEST_SHOWN = 1e250  # above about 1e300 matplotlib's log axis overflows placing its ticks


def _loss_panel(ax, trajectories):
    for k, (name, t) in enumerate(trajectories.items()):
        steps = [s for s, v in enumerate(t.losses) if 0 < v <= LARGEST_SHOWN]
        # hollow markers of shrinking size: every implementation stays visible where they coincide
        ax.plot(
            steps,
            [t.losses[s] for s in steps],
            marker=MARKERS[k % len(MARKERS)],
            markersize=13 - 1.3 * k,
            markevery=max(1, len(steps) // 30),
            markerfacecolor="none",
            linewidth=1.2,
            label=name,
        )
    first = next(iter(trajectories.values()))
    blown = first.first_non_finite()
    if blown is not None:
        ax.text(
            0.02,
            0.95,
            f"the loss is inf from step {blown}: the learning rate is too large",
            transform=ax.transAxes,
            fontsize=13,
            color="tab:red",
            va="top",
        )
    _log_scale(ax, [v for t in trajectories.values() for v in t.losses])
    ax.set_title(f"Loss per step: {_who(trajectories)}", fontsize=15)
    ax.set_xlabel("step", fontsize=13)
    ax.set_ylabel("loss (before the step, log scale)", fontsize=13)
    _legend_outside(ax)
    ax.grid(alpha=0.3)


def _epoch_loss_panel(ax, problem, trajectories):
    """A network's loss over all the data, before training and after each epoch: one point per epoch."""
    per_row = {name: problem.epoch_losses(t.parameters) for name, t in trajectories.items()}
    for k, (name, losses) in enumerate(per_row.items()):
        epochs = [e for e, v in enumerate(losses) if 0 < v <= LARGEST_SHOWN]
        ax.plot(
            epochs,
            [losses[e] for e in epochs],
            marker=MARKERS[k % len(MARKERS)],
            markersize=11 - 1.1 * k,
            markerfacecolor="none",
            linewidth=1.2,
            label=name,
        )
    _log_scale(ax, [v for losses in per_row.values() for v in losses])
    ax.set_title(f"Loss over all {problem.x.size} samples, per epoch: {_who(trajectories)}", fontsize=15)
    ax.set_xlabel("epoch (0: before training)", fontsize=13)
    ax.set_ylabel("mean squared error (log scale)", fontsize=13)
    _legend_outside(ax)
    ax.grid(alpha=0.3)


def _who(trajectories) -> str:
    return "one curve" if len(trajectories) == 1 else f"{len(trajectories)} implementations, one curve"


def _log_scale(ax, values) -> None:
    ax.set_yscale("log")
    shown = [v for v in values if 0 < v <= LARGEST_SHOWN]
    if shown:  # set by hand: autoscaling pads in log space and overflows near 1e308
        ax.set_ylim(min(shown) / 3, max(shown) * 3)


def _legend_outside(ax, fontsize=11) -> None:
    """The legend to the right of the axes, where it covers no curve."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _valley_panel(ax, problem, trajectory, title, steps=None):
    """The valley curve, the ball at each step's weight, an arrow for each step."""
    weights = [problem.w0, *trajectory.weights][: (steps or len(trajectory)) + 1]
    weights = weights[: next((k for k, w in enumerate(weights) if not math.isfinite(w)), len(weights))]
    biases = [problem.b0, *trajectory.biases][: len(weights)] if trajectory.biases else [0.0] * len(weights)
    loss = valley(problem)
    with np.errstate(over="ignore", invalid="ignore"):
        _draw_valley(ax, loss, weights, biases, title, problem.has_bias)
    if len(weights) <= len(trajectory):  # cut short: say where the run went
        ax.text(
            0.02,
            0.95,
            _where_it_went(trajectory, len(weights) - 1),
            transform=ax.transAxes,
            fontsize=11,
            color="tab:red",
            va="top",
        )


def _where_it_went(trajectory, shown: int) -> str:
    """What a valley cut short leaves out: how far the weight ran, or where it became inf or NaN."""
    blown = trajectory.first_non_finite()
    if blown is not None:
        return f"the first {shown} steps; the loss is inf or NaN from step {blown}"
    return f"the first {shown} of {len(trajectory)} steps; by the last, weight = {trajectory.weights[-1]:.3g}"


def _draw_valley(ax, loss, weights, biases, title, has_bias):
    low, high = min(weights), max(weights)
    pad = max(high - low, 1.0) * 0.15
    grid = np.linspace(low - pad, high + pad, 400)
    floor = "the floor: loss(weight, best bias)" if has_bias else "loss(weight)"
    ax.plot(grid, loss(grid, None if has_bias else 0.0), color="0.4", linewidth=2, label=floor)
    heights = loss(np.asarray(weights), np.asarray(biases))  # the ball is where weight and bias are
    for (w0, h0), (w1, h1) in zip(zip(weights, heights), zip(weights[1:], heights[1:])):
        ax.annotate("", xy=(w1, h1), xytext=(w0, h0), arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.5))
    ax.scatter(weights, heights, s=80, color="tab:red", zorder=3, label="the ball, one dot per step")
    ax.scatter(weights[:1], heights[:1], s=160, facecolors="none", edgecolors="black", zorder=4, label="start")
    ax.set_title(title, fontsize=14)
    ax.set_xlabel("weight", fontsize=13)
    ax.set_ylabel("loss", fontsize=13)
    ax.grid(alpha=0.3)


def _describe_rate(problem) -> str:
    factor = error_factor(problem)
    if abs(factor) >= 1:
        kind = "overshoots"
    elif factor < 0:
        kind = "bounces, settling"
    else:
        kind = "crawls" if factor > 0.9 else "rolls down"
    about = "\u2248" if isinstance(problem, Batched) and len(problem.batches) > 1 else ""  # per full batch
    return f"{kind}: error {about}\u00d7{factor:.3g} per step".replace("-", "\u2212")


def _shown(problem) -> int | None:
    """How many steps a valley shows: a diverging run only bounces a few times before the scale runs away."""
    return 4 if abs(error_factor(problem)) >= 1 else None


def _fit_panel(ax, problem, trajectory):
    """The data, the best single weight, and the network's function at a few moments of training."""
    x, y = problem.x.astype(np.float64), problem.y.astype(np.float64)
    grid = np.linspace(x.min() - 0.25, x.max() + 0.25, 300)
    ax.scatter(x, y, s=70, color="black", zorder=4, label="the data")
    best = float(np.dot(x, y) / np.dot(x, x))  # least squares through 0: the best one weight can do
    best_loss = float(np.mean((best * x - y) ** 2))
    ax.plot(
        grid,
        best * grid,
        color="0.5",
        linestyle="--",
        linewidth=2,
        label=f"one weight at its best: w = {best:.3g}, loss {best_loss:.3g}",
    )
    per_epoch = len(problem.batches)
    moments = sorted({0, per_epoch, min(5 * per_epoch, problem.updates), problem.updates})
    for k in moments:
        if k > problem.updates:
            continue
        parameters = problem.initial if k == 0 else {n: rows[k - 1] for n, rows in trajectory.parameters.items()}
        with np.errstate(over="ignore", invalid="ignore"):
            fitted = problem.predict(parameters, grid)
        if np.isfinite(fitted).all():
            epochs = k // per_epoch
            ax.plot(grid, fitted, linewidth=2, label=f"after {k} updates ({epochs} epoch{'' if epochs == 1 else 's'})")
    ax.set_title(f"What the hidden layer of {problem.hidden} {problem.activation} units learns", fontsize=14)
    ax.set_xlabel("x", fontsize=13)
    ax.set_ylabel("prediction", fontsize=13)
    _legend_outside(ax, fontsize=10)
    ax.grid(alpha=0.3)


def _gradient_panel(ax, trajectory):
    """The size (largest |value|) of each layer's gradient at every step."""
    for name, rows in trajectory.gradients.items():
        with np.errstate(invalid="ignore"):
            size = np.abs(np.asarray(rows, dtype=np.float64)).max(axis=1)
        steps = [s for s, v in enumerate(size) if 0 < v <= LARGEST_SHOWN]
        ax.plot(steps, size[steps], linewidth=1.2, label=f"d loss / d {name}")
    ax.set_yscale("log")
    ax.set_title("Each layer's gradient per step (largest entry)", fontsize=14)
    ax.set_xlabel("step", fontsize=13)
    ax.set_ylabel("|gradient| (log scale)", fontsize=13)
    _legend_outside(ax)
    ax.grid(alpha=0.3)


def plot(problem, names, output: str, problem_name: str, run, progress=lambda text: None) -> tuple[int, int]:
    """Draw the panels into a PNG file; return its size in pixels.

    run(name, problem): the trajectory of that row on that problem (the CLI trains it on the chosen device).
    progress(text): told what is being done now, for a person watching.
    """
    target = writable_file(output, "--output", ".png")  # before any training: a bad path costs nothing
    Figure, FigureCanvasAgg = _matplotlib()
    trajectories = {}
    for name in names:
        progress(f"training {name} on {problem_name or 'the problem'}…")
        trajectories[name] = run(name, problem)
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 6)
    reference = next(iter(trajectories.values()))
    if isinstance(problem, Classifier):  # learning curves, and the test digits with what it says each one is
        _classifier_panels(figure, grid, problem, trajectories)
    elif isinstance(problem, Network):  # no valley of one weight: the function it fits, and each layer's gradient
        _epoch_loss_panel(figure.add_subplot(grid[0, :3]), problem, trajectories)
        _fit_panel(figure.add_subplot(grid[0, 3:]), problem, reference)
        _gradient_panel(figure.add_subplot(grid[1, :]), reference)
    else:
        _loss_panel(figure.add_subplot(grid[0, :3]), trajectories)
        _lesson_panels(figure, grid, problem, reference, names, run, progress)
    label = problem_name or "custom problem"
    who = ", ".join(names) if len(names) <= 6 else f"{len(names)} implementations"  # more would run off the page
    figure.suptitle(f"Gradient descent on '{label}' ({problem.dtype}): {who}", fontsize=16)
    progress(f"drawing {target.name}…")
    with written_whole(target) as temporary, warnings.catch_warnings():  # a failed save leaves no partial file
        # constrained layout warns on a first pass that sizes a legend outside its axes; its last pass lays out all
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        figure.savefig(temporary, format="png")
    width, height = (round(v * DPI) for v in SIZE_INCHES)
    return width, height


DIGITS_SHOWN = (3, 12)  # rows and columns of test images drawn under the curves


def _classifier_panels(figure, grid, problem, trajectories):
    """Each row's loss and accuracy per epoch (training and test images), then test images with its predictions."""
    loss_ax, accuracy_ax = figure.add_subplot(grid[0, :3]), figure.add_subplot(grid[0, 3:])
    for index, (name, trajectory) in enumerate(trajectories.items()):
        scores = problem.epoch_scores(trajectory.parameters)
        epochs, marker = range(len(scores)), MARKERS[index % len(MARKERS)]
        for part, style in (("train", "-"), ("test", "--")):
            loss_ax.plot(epochs, [s[f"{part}_loss"] for s in scores], style, marker=marker, label=f"{name}, {part}")
            accuracy = [100 * s[f"{part}_accuracy"] for s in scores]
            accuracy_ax.plot(epochs, accuracy, style, marker=marker, label=f"{name}, {part}")
    for ax, what in ((loss_ax, "cross-entropy"), (accuracy_ax, "accuracy (%)")):
        ax.set_xticks(range(problem.epochs + 1))
        ax.set_xlabel("epoch (0: before training)", fontsize=13)
        ax.set_ylabel(what, fontsize=13)
        ax.grid(alpha=0.3)
        _legend_outside(ax, fontsize=9)
    loss_ax.set_title("Loss per epoch: training images (solid), test images (dashed)", fontsize=14)
    accuracy_ax.set_title("Accuracy per epoch: the share of images it gets right", fontsize=14)
    name, trajectory = next(iter(trajectories.items()))
    predicted, _ = problem.predictions(problem.final(trajectory.parameters))
    rows, columns = DIGITS_SHOWN
    side = int(round(math.sqrt(problem.inputs)))  # 8 x 8 digits, 28 x 28 MNIST
    cells = grid[1, :].subgridspec(rows + 1, columns, height_ratios=[0.25] + [1] * rows)
    caption = figure.add_subplot(cells[0, :])
    caption.axis("off")
    caption.set_title(f"The first test images and what {name} says each one is (mistakes in red)", fontsize=14)
    for k in range(min(rows * columns, len(predicted))):
        ax = figure.add_subplot(cells[1 + k // columns, k % columns])
        ax.imshow(problem.images.x_test[k].reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
        right = predicted[k] == problem.images.y_test[k]
        said = f"{predicted[k]}" if right else f"{predicted[k]} (is {problem.images.y_test[k]})"
        ax.set_title(said, fontsize=11, color="black" if right else "red", fontweight="normal" if right else "bold")
        ax.set_xticks([])
        ax.set_yticks([])


def _lesson_panels(figure, grid, problem, reference, names, run, progress):
    """The valley at the problem's learning rate, then at each other rate of the lesson's three."""
    _valley_panel(
        figure.add_subplot(grid[0, 3:]),
        problem,
        reference,
        f"The valley at lr {problem.lr:g}: {_describe_rate(problem)}",
        steps=_shown(problem),
    )
    _legend_outside(figure.axes[-1])
    others = {rate: variant for rate, variant in lr_variants(problem).items() if variant.lr != problem.lr}
    span = 6 // len(others)  # the problem's own rate is drawn above: not again below
    for column, (rate, variant) in enumerate(others.items()):
        progress(f"training {names[0]} at lr {rate:g}…")
        _valley_panel(
            figure.add_subplot(grid[1, span * column : span * (column + 1)]),
            variant,
            run(names[0], variant),
            f"lr {rate:g}: {_describe_rate(variant)}",
            steps=_shown(variant),
        )
