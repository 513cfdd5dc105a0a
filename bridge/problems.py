"""The three problems the loops solve, validated once, and the named presets."""

from __future__ import annotations

import math
import numbers
import random
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from bridge.errors import InvalidProblem, UnknownName
from bridge.floats import DTYPES, rounder
from bridge.trajectory import LAYERS


def _number(name: str, value, dtype: str) -> float:
    """value as a finite float already rounded to dtype, or InvalidProblem."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidProblem(f"{name} must be a real number, got {_shown(value)}")
    try:
        as_float = float(value)
    except OverflowError:  # an int or Fraction beyond float64's range
        raise InvalidProblem(f"{name}={_shown(value)} overflows {dtype}") from None
    if not math.isfinite(as_float):
        raise InvalidProblem(f"{name} must be finite, got {as_float!r}")
    rounded = rounder(dtype)(as_float)
    if not math.isfinite(rounded):
        raise InvalidProblem(f"{name}={as_float!r} overflows {dtype}")
    return rounded


def _shown(value, limit: int = 40) -> str:
    """repr(value) for a one-line message, cut short: a 400-digit number is not read, only seen to be large."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else f"{text[: limit - 10]}… ({len(text)} characters)"


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidProblem(f"{name} must be a whole number, got {_shown(value)}")
    if value < minimum:
        raise InvalidProblem(f"{name} must be >= {minimum}, got {_shown(value)}")
    return int(value)


def _dtype(value) -> str:
    if value not in DTYPES:
        raise InvalidProblem(f"dtype must be one of {', '.join(DTYPES)}, got {_shown(value)}")
    return value


def _samples(name: str, values, dtype: str) -> np.ndarray:
    """A read-only 1-D array of finite dtype numbers: cheap to share, impossible to edit."""
    if isinstance(values, (str, bytes)) or isinstance(values, numbers.Number):
        raise InvalidProblem(f"{name} must be a sequence of numbers, got {_shown(values)}")
    try:
        array = np.array(values, dtype=np.float64)  # a copy, so the caller's data stays theirs
    except (TypeError, ValueError):
        raise InvalidProblem(f"{name} must be a sequence of real numbers") from None
    except OverflowError:  # an int beyond float64's range
        raise InvalidProblem(f"{name} holds a number beyond {dtype}'s range") from None
    if array.ndim != 1:
        raise InvalidProblem(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise InvalidProblem(f"{name} must not be empty")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidProblem(f"{name}[{bad}] must be finite, got {float(array[bad])!r}")
    with np.errstate(over="ignore"):
        rounded = array.astype(dtype)
    if not np.isfinite(rounded).all():
        bad = int(np.flatnonzero(~np.isfinite(rounded))[0])
        raise InvalidProblem(f"{name}[{bad}]={float(array[bad])!r} overflows {dtype}")
    rounded.flags.writeable = False
    return rounded


def _data(x, y, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """A batched problem's samples: x and y as read-only arrays of dtype, of the same length."""
    x, y = _samples("x", x, dtype), _samples("y", y, dtype)
    if x.size != y.size:
        raise InvalidProblem(f"x and y must have the same length, got {x.size} and {y.size}")
    return x, y


@dataclass(frozen=True)
class OneWeight:
    """The lesson's problem: one input, one target, one weight, `steps` updates.

    Numbers are stored rounded to `dtype`, so every implementation starts from
    exactly the same values.
    """

    x: float
    y: float
    w0: float
    lr: float
    steps: int
    dtype: str = "float64"

    def __post_init__(self):
        dtype = _dtype(self.dtype)
        for name in ("x", "y", "w0", "lr"):
            object.__setattr__(self, name, _number(name, getattr(self, name), dtype))
        object.__setattr__(self, "steps", _count("steps", self.steps, 0))

    @property
    def updates(self) -> int:
        """How many weight updates a run makes."""
        return self.steps

    @property
    def has_bias(self) -> bool:
        """The lesson's model is one weight, no bias."""
        return False

    @property
    def values_per_update(self) -> int:
        """Numbers a trajectory records per update: the loss, the gradient, the weight."""
        return 3


@dataclass(frozen=True, eq=False)
class Batched:
    """Mini-batch gradient descent on y = w * x (+ b) with mean squared error.

    Batches are consecutive slices of `batch_size` in data order; the last may
    be shorter, and a batch_size larger than the data means one batch (as Keras).
    b0=None (the default) means no bias, the lesson's model; a number adds a
    bias starting there, Keras's Dense(1).
    """

    x: np.ndarray
    y: np.ndarray
    w0: float
    lr: float
    epochs: int
    batch_size: int
    dtype: str = "float64"
    b0: float | None = None
    batches: tuple[slice, ...] = field(init=False, repr=False)

    def __post_init__(self):
        dtype = _dtype(self.dtype)
        x, y = _data(self.x, self.y, dtype)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        for name in ("w0", "lr"):
            object.__setattr__(self, name, _number(name, getattr(self, name), dtype))
        if self.b0 is not None:
            object.__setattr__(self, "b0", _number("b0", self.b0, dtype))
        object.__setattr__(self, "epochs", _count("epochs", self.epochs, 0))
        size = _count("batch_size", self.batch_size, 1)
        object.__setattr__(self, "batch_size", size)
        object.__setattr__(self, "batches", _consecutive(x.size, size))

    @property
    def longest_batch(self) -> int:
        """The samples in a full batch: batch_size, or all of them when batch_size is larger (one batch)."""
        return self.batches[0].stop

    @property
    def updates(self) -> int:
        """How many weight updates a run makes: one per batch per epoch."""
        return self.epochs * len(self.batches)

    @property
    def has_bias(self) -> bool:
        return self.b0 is not None

    @property
    def values_per_update(self) -> int:
        """Numbers a trajectory records per update: loss, gradient and weight (and the bias's two)."""
        return 5 if self.has_bias else 3

    def __repr__(self) -> str:
        return (
            f"Batched(n={self.x.size}, w0={self.w0!r}, lr={self.lr!r}, epochs={self.epochs}, "
            f"batch_size={self.batch_size}, dtype={self.dtype!r}"
            + ("" if self.b0 is None else f", b0={self.b0!r}")
            + ")"
        )


def _consecutive(n: int, size: int) -> tuple[slice, ...]:
    """The canonical batches: consecutive slices of `size` in data order, the last one possibly shorter."""
    return tuple(slice(start, min(start + size, n)) for start in range(0, n, size))


ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True, eq=False)
class Network:
    """One hidden layer of `hidden` units, then one output: pred = act(x W1 + b1) @ W2 + b2, fitted by SGD on MSE.

    x and y hold one input feature and one target per sample. W1 (1 x H) and W2
    (H x 1) are stored flat, as H numbers each; b1 is H numbers, b2 one. Given
    as w1, b1, w2, b2, or drawn from `seed` with random.Random (whose stream
    Python keeps stable) when none is given; every row starts from exactly
    these values, rounded to dtype, whatever its framework's initialiser does.
    Batches are those of Batched: consecutive slices in data order.
    """

    x: np.ndarray
    y: np.ndarray
    hidden: int
    activation: str
    lr: float
    epochs: int
    batch_size: int
    dtype: str = "float64"
    seed: int = 0
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None
    w2: np.ndarray | None = None
    b2: float | None = None
    batches: tuple[slice, ...] = field(init=False, repr=False)

    def __post_init__(self):
        dtype = _dtype(self.dtype)
        x, y = _data(self.x, self.y, dtype)
        hidden = _count("hidden", self.hidden, 1)
        if hidden > MAX_HIDDEN:
            raise InvalidProblem(f"hidden must be <= {MAX_HIDDEN}, got {_shown(self.hidden)}")
        if self.activation not in ACTIVATIONS:
            raise InvalidProblem(f"activation must be one of {', '.join(ACTIVATIONS)}, got {_shown(self.activation)}")
        given = [v is not None for v in (self.w1, self.b1, self.w2, self.b2)]
        if any(given) and not all(given):
            raise InvalidProblem("give all of w1, b1, w2 and b2, or none of them (they are drawn from seed)")
        seed = _count("seed", self.seed, 0)
        w1, b1, w2, b2 = (self.w1, self.b1, self.w2, self.b2) if all(given) else _drawn(hidden, seed)
        for name, value in (("w1", w1), ("b1", b1), ("w2", w2)):
            value = _samples(name, value, dtype)
            if value.size != hidden:
                raise InvalidProblem(f"{name} must hold hidden={hidden} numbers, got {value.size}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "b2", _number("b2", b2, dtype))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "lr", _number("lr", self.lr, dtype))
        object.__setattr__(self, "epochs", _count("epochs", self.epochs, 0))
        object.__setattr__(self, "batch_size", _count("batch_size", self.batch_size, 1))
        object.__setattr__(self, "batches", _consecutive(x.size, self.batch_size))

    longest_batch = Batched.longest_batch
    updates = Batched.updates

    @property
    def has_bias(self) -> bool:
        """Both layers have biases; the trajectory keeps them in `parameters`, not in `biases`."""
        return False

    @property
    def initial(self) -> dict[str, list[float]]:
        """The starting parameters by name (LAYERS), each a flat list: W1 and W2 as H numbers."""
        return dict(zip(LAYERS, (self.w1.tolist(), self.b1.tolist(), self.w2.tolist(), [self.b2])))

    def predict(self, parameters: dict, x) -> np.ndarray:
        """The network's output for each x, in float64: act(x W1 + b1) @ W2 + b2."""
        z = np.multiply.outer(np.asarray(x, dtype=np.float64), parameters["W1"]) + np.asarray(parameters["b1"])
        h = np.maximum(z, 0) if self.activation == "relu" else np.tanh(z)
        return h @ np.asarray(parameters["W2"]) + parameters["b2"][0]

    def loss_over_all(self, parameters: dict) -> float:
        """The mean squared error over every sample, in float64: the network's loss, where a step's is one batch's."""
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.mean((self.predict(parameters, self.x) - self.y.astype(np.float64)) ** 2))

    def epoch_losses(self, trained: dict) -> list[float]:
        """loss_over_all before training, then after each epoch; trained: a Trajectory's parameters, by name."""
        per_epoch = len(self.batches)
        ends = [
            {name: rows[(epoch + 1) * per_epoch - 1] for name, rows in trained.items()} for epoch in range(self.epochs)
        ]
        return [self.loss_over_all(parameters) for parameters in [self.initial, *ends]]

    @property
    def layers(self) -> tuple:
        """The parameters shaped as the layers use them: W1 (1 x H), b1 (H), W2 (H x 1), b2 (a list of one)."""
        return self.w1.reshape(1, -1), self.b1, self.w2.reshape(-1, 1), [self.b2]

    @property
    def sizes(self) -> dict[str, int]:
        """How many numbers each parameter holds."""
        return dict(zip(LAYERS, (self.hidden, self.hidden, self.hidden, 1)))

    @property
    def values_per_update(self) -> int:
        """The loss, then every parameter's gradient and new value: 1 + 2 (3H + 1)."""
        return 1 + 2 * (3 * self.hidden + 1)

    def __repr__(self) -> str:
        return (
            f"Network(n={self.x.size}, hidden={self.hidden}, activation={self.activation!r}, lr={self.lr!r}, "
            f"epochs={self.epochs}, batch_size={self.batch_size}, dtype={self.dtype!r}, seed={self.seed})"
        )


MAX_HIDDEN = 4096  # a width no lesson needs; beyond it the bounds' arrays and the recorded rows grow large


def _drawn(hidden: int, seed: int) -> tuple[list[float], list[float], list[float], float]:
    """Initial parameters from Python's stable generator: W1 and b1 to spread the units' bends, W2 and b2 small."""
    rng = random.Random(seed)
    w1 = [rng.uniform(-1.5, 1.5) for _ in range(hidden)]
    b1 = [rng.uniform(-0.5, 0.5) for _ in range(hidden)]
    w2 = [rng.uniform(-1.0, 1.0) for _ in range(hidden)]
    return w1, b1, w2, rng.uniform(-0.5, 0.5)


PROBLEMS = (OneWeight, Batched, Network)


def loop_of(problem) -> str:
    """Which loop trains the problem: one_weight, batched or network (each impl module has one of each)."""
    return {OneWeight: "one_weight", Batched: "batched", Network: "network"}[type(problem)]


def _line_data(n: int, seed: int, intercept: float = 0.0) -> tuple[list[float], list[float]]:
    """n noisy samples of y = 2x + intercept, from Python's own generator (stable across versions)."""
    rng = random.Random(seed)
    x = [rng.uniform(-2.0, 2.0) for _ in range(n)]
    return x, [2.0 * xi + intercept + rng.uniform(-0.5, 0.5) for xi in x]


def _presets() -> dict:
    lesson = dict(x=1.5, y=3.0, w0=0.0)
    full_x, full_y = _line_data(50, seed=2026)
    mini_x, mini_y = _line_data(90, seed=7)
    bias_x, bias_y = _line_data(90, seed=11, intercept=1.0)
    # y = |x|: a bend no single weight can follow (its best fit is w = 0, loss 1.33); 16 points a quarter apart,
    # offset by an eighth, so every x is exact in binary. Seed 44 keeps every pre-activation at least 0.02 from 0
    # through training (tests/test_network.py), so no ReLU's mask is a matter of rounding.
    bend_x = [-1.875 + 0.25 * k for k in range(16)]
    bend = dict(x=bend_x, y=[abs(v) for v in bend_x], hidden=4, lr=2.0**-4, epochs=30, batch_size=1, seed=44)
    return {
        "lesson": OneWeight(**lesson, lr=0.1, steps=20),
        "overshoot": OneWeight(**lesson, lr=0.9, steps=20),
        "crawl": OneWeight(**lesson, lr=0.01, steps=20),
        # the error grows 3.05x per step: float32 overflows near step 80, float64 near 640
        "explode": OneWeight(**lesson, lr=0.9, steps=700),
        "practice": OneWeight(x=2.0, y=6.0, w0=1.0, lr=0.1, steps=1),
        # 50 samples in one batch; 50 is not a power of two, so 1/50 rounds
        "full_batch": Batched(full_x, full_y, w0=0.0, lr=0.1, epochs=30, batch_size=50),
        # 90 samples in batches of 25: 25, 25, 25 and a partial 15
        "mini_batch": Batched(mini_x, mini_y, w0=0.0, lr=0.05, epochs=4, batch_size=25),
        # Keras's Dense(1): a weight and a bias, fitted to y = 2x + 1 in batches of 32, 32 and 26
        "bias": Batched(bias_x, bias_y, w0=0.0, b0=0.0, lr=0.05, epochs=5, batch_size=32),
        # one hidden layer of 4 units, one sample per update (the lesson's rhythm), lr 1/16
        "mlp": Network(**bend, activation="relu"),
        "mlp_tanh": Network(**bend, activation="tanh"),
    }


PRESETS = MappingProxyType(_presets())


def preset(name: str, dtype: str = "float64"):
    """The named preset in the given dtype."""
    if name not in PRESETS:
        raise UnknownName(f"unknown problem {name!r}; choose one of: {', '.join(PRESETS)}")
    return with_changes(PRESETS[name], dtype=dtype)


def with_changes(problem, **changes):
    """A copy of problem with some fields replaced, validated like a new one."""
    fields = {k: v for k, v in vars(problem).items() if k != "batches"}
    if isinstance(problem, Network) and {"hidden", "seed"} & changes.keys():
        fields.update(w1=None, b1=None, w2=None, b2=None)  # a new width or seed draws new parameters
    fields.update(changes)
    return type(problem)(**fields)
