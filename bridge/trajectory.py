"""What a training run leaves behind: one record per weight update."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Trajectory:
    """weights[k]: weight AFTER update k; losses[k]: loss BEFORE it; grads[k]: gradient it used.

    biases and bias_grads hold the same for the bias, and stay empty when the model has none.
    """

    weights: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    grads: list[float] = field(default_factory=list)
    biases: list[float] = field(default_factory=list)
    bias_grads: list[float] = field(default_factory=list)
    implementation: str = ""
    dtype: str = "float64"
    device: str = "cpu"

    def record(self, loss, grad, weight, bias_grad=None, bias=None) -> None:
        """Append one update; accepts anything float() takes (0-d tensors and arrays too)."""
        self.losses.append(float(loss))
        self.grads.append(float(grad))
        self.weights.append(float(weight))
        if bias is not None:
            self.bias_grads.append(float(bias_grad))
            self.biases.append(float(bias))

    def __len__(self) -> int:
        return len(self.weights)

    def first_non_finite(self) -> int | None:
        """The first step whose loss, gradient or new weight is inf or NaN, else None."""
        for step, values in enumerate(zip(self.losses, self.grads, self.weights)):
            bias = (self.bias_grads[step], self.biases[step]) if step < len(self.biases) else ()
            if not all(map(math.isfinite, (*values, *bias))):
                return step
        return None

    def to_dict(self) -> dict:
        """JSON-ready: floats exact (repr round-trips); inf and NaN as "inf", "-inf", "nan"."""

        def encode(values):
            return [v if math.isfinite(v) else repr(v) for v in values]

        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "device": self.device,
            "weights": encode(self.weights),
            "losses": encode(self.losses),
            "grads": encode(self.grads),
            "biases": encode(self.biases),
            "bias_grads": encode(self.bias_grads),
        }
