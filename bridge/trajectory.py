"""What a training run leaves behind: one record per weight update."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LAYERS = ("W1", "b1", "W2", "b2")  # a network's parameters (bridge.problems.Network), forward-pass order
RECORDED = ("weights", "losses", "grads", "biases", "bias_grads")  # the one-weight and batched models' lists
LOCAL = ("local_losses", "local_grads", "local_bias_grads")  # a data-parallel run's: each worker's own, per update


@dataclass
class Trajectory:
    """`weights[k]`: weight AFTER update k; `losses[k]`: loss BEFORE it; `grads[k]`: gradient it used.

    `biases` and `bias_grads` hold the same for the bias, and stay empty when the model has none.
    A network (`bridge.Network`) records its loss in `losses` and, per parameter name
    (W1, b1, W2, b2), one flat list per update: `parameters[name][k]` after update k,
    `gradients[name][k]` used by it (W1 and W2 as H numbers, b2 as one); `weights`,
    `grads`, `biases` and `bias_grads` stay empty. A classifier whose records are per epoch
    (`layers_every` > 1) keeps every loss, but the layers of every `layers_every`-th update only.
    """

    weights: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    grads: list[float] = field(default_factory=list)
    biases: list[float] = field(default_factory=list)
    bias_grads: list[float] = field(default_factory=list)
    implementation: str = ""
    dtype: str = "float64"
    device: str = "cpu"
    parameters: dict[str, list[list[float]]] = field(default_factory=dict)
    gradients: dict[str, list[list[float]]] = field(default_factory=dict)
    # Data-parallel rows (bridge.parallel): each worker's own share of the loss and gradient, before the all-reduce
    local_losses: list[list[float]] = field(default_factory=list)
    local_grads: list[list[float]] = field(default_factory=list)
    local_bias_grads: list[list[float]] = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)  # a Keras row's own model.evaluate: test_loss, test_accuracy
    layers_every: int = 1  # the layers kept after every update (1), or after every so many (a classifier's epoch)
    workers: int = 0  # the workers asked for; 0: a single-process run
    world: dict = field(default_factory=dict)  # what the workers reported: engine, world_size, devices

    def record(self, loss, grad, weight, bias_grad=None, bias=None) -> None:
        """Append one update; accepts anything float() takes (0-d tensors and arrays too)."""
        self.losses.append(float(loss))
        self.grads.append(float(grad))
        self.weights.append(float(weight))
        if bias is not None:
            self.bias_grads.append(float(bias_grad))
            self.biases.append(float(bias))

    @classmethod
    def keeping(cls, problem) -> Trajectory:
        """An empty trajectory that keeps what problem asks for: a classifier's layers per update or per epoch."""
        return cls(layers_every=getattr(problem, "layers_every", 1))

    def layers_due(self) -> bool:
        """Whether the next update recorded keeps its layers, not only its loss."""
        return (len(self.losses) + 1) % self.layers_every == 0

    def record_layers(self, loss, grads, parameters) -> None:
        """Append one update of a network: its loss, then each layer's gradients and new values, in LAYERS order."""
        if self.layers_due():
            for name, grad, value in zip(LAYERS, grads, parameters):
                self.gradients.setdefault(name, []).append(np.ravel(np.asarray(grad, dtype=np.float64)).tolist())
                self.parameters.setdefault(name, []).append(np.ravel(np.asarray(value, dtype=np.float64)).tolist())
        self.losses.append(float(loss))

    def record_loss(self, loss) -> None:
        """Append one update whose layers are not kept (layers_due() said no): its loss alone."""
        self.losses.append(float(loss))

    @classmethod
    def of_network(cls, sizes: dict[str, int], rows, losses=None, layers_every: int = 1) -> Trajectory:
        """A network's trajectory from flat rows, one per update kept: the loss, every gradient, every new value.

        losses: every update's loss, where the rows are every layers_every-th update's (else the rows' own).
        """
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 1 + 2 * sum(sizes.values()))
        losses = rows[:, 0] if losses is None else np.asarray(losses, dtype=np.float64)
        trajectory, start = cls(losses=losses.tolist(), layers_every=layers_every), 1
        for table in (trajectory.gradients, trajectory.parameters):
            for name in LAYERS:
                table[name] = rows[:, start : start + sizes[name]].tolist()
                start += sizes[name]
        return trajectory

    def network_rows(self) -> np.ndarray:
        """The inverse of of_network: one flat row per update kept (loss, gradients, values), for comparing."""
        if not self.losses or not self.parameters:
            return np.empty((0, 0))
        losses = np.asarray(self.losses, dtype=np.float64)[self.layers_every - 1 :: self.layers_every]
        columns = [losses.reshape(-1, 1)]
        for table in (self.gradients, self.parameters):
            columns += [np.asarray(table[name], dtype=np.float64).reshape(len(losses), -1) for name in LAYERS]
        return np.hstack(columns)

    def __len__(self) -> int:
        return len(self.losses)

    def first_non_finite(self) -> int | None:
        """The first step whose loss, gradient or new weight is inf or NaN, else None."""
        if self.parameters or self.layers_every > 1:
            bad = ~np.isfinite(self.losses)
            if self.parameters:  # the layers of every layers_every-th update
                bad[self.layers_every - 1 :: self.layers_every] |= ~np.isfinite(self.network_rows()).all(axis=1)
            return int(np.flatnonzero(bad)[0]) if bad.any() else None
        for step, values in enumerate(zip(self.losses, self.grads, self.weights)):
            bias = (self.bias_grads[step], self.biases[step]) if step < len(self.biases) else ()
            if not all(map(math.isfinite, (*values, *bias))):
                return step
        return None

    def to_dict(self) -> dict:
        """JSON-ready: floats exact (repr round-trips); inf and NaN as "inf", "-inf", "nan"."""

        def encode(values):
            return [v if math.isfinite(v) else repr(v) for v in values]

        return (
            {
                "implementation": self.implementation,
                "dtype": self.dtype,
                "device": self.device,
                "weights": encode(self.weights),
                "losses": encode(self.losses),
                "grads": encode(self.grads),
                "biases": encode(self.biases),
                "bias_grads": encode(self.bias_grads),
                "parameters": {name: [encode(row) for row in rows] for name, rows in self.parameters.items()},
                "gradients": {name: [encode(row) for row in rows] for name, rows in self.gradients.items()},
            }
            | ({"evaluation": self.evaluation} if self.evaluation else {})
            | ({"layers_every": self.layers_every} if self.layers_every > 1 else {})
            | self._parallel_dict(encode)
        )

    def _parallel_dict(self, encode) -> dict:
        """A data-parallel run's own records: its workers' gradients and what they reported."""
        if not self.workers:
            return {}
        local = {k: [encode(row) for row in getattr(self, k)] for k in LOCAL}
        return {"workers": self.workers, "world": self.world, **local}
