"""The three problems the loops solve, validated once, and the named presets."""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from bridge.errors import InvalidProblem, UnknownName
from bridge.floats import DTYPES, rounder
from bridge.images import CLASSES, Images
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


OPTIMIZERS = ("sgd", "adam")
# What a classifier's run keeps: every update's loss, gradients and parameters ("step": what compare checks), or
# every update's loss and the gradients and parameters of each epoch's last update only ("epoch": an MNIST-sized
# run's records, 60,000 images in batches of 128 being 469 updates of 101,770 parameters an epoch)
RECORDS = ("step", "epoch")


@dataclass(frozen=True, eq=False)
class Classifier:
    """The next lesson's model: inputs -> H ReLU units -> 10 softmax outputs, sparse categorical cross-entropy.

    images: the data (bridge.images: digits, or MNIST from files). Trained on
    its training images, batches being consecutive slices in their fixed order
    (Keras's fit(shuffle=False)); train_size keeps only the first so many.
    optimizer: "sgd", or "adam" with beta_1, beta_2 and epsilon. epsilon_hat
    says where Adam adds epsilon: False adds it to sqrt(v_hat), after the bias
    correction (Kingma and Ba's Algorithm 1, torch, optax); True adds it to
    sqrt(v) before (the paper's epsilon-hat: Keras and TensorFlow).
    from_logits: the loss reads the logits (a log-softmax); False reads the
    softmax's probabilities, clipped to [1e-7, 1 - 1e-7] before the log
    (Keras's path for a softmax output layer). Initial parameters: given as
    w1, b1, w2, b2 (W1 inputs x H and W2 H x 10, flat), or drawn from seed as
    Keras draws them, Glorot-uniform kernels and zero biases, with Python's
    stable generator; every row starts from exactly these, rounded to dtype.
    records: "step" keeps every update's layers (what compare checks); "epoch"
    keeps every loss but the layers of each epoch's last update only (RECORDS).
    """

    images: Images
    hidden: int
    lr: float
    epochs: int
    batch_size: int
    optimizer: str = "sgd"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    epsilon_hat: bool = False
    from_logits: bool = True
    dtype: str = "float64"
    seed: int = 0
    train_size: int | None = None
    records: str = "step"
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None
    w2: np.ndarray | None = None
    b2: np.ndarray | None = None
    x: np.ndarray = field(init=False, repr=False)  # the training images, of dtype, one row each
    labels: np.ndarray = field(init=False, repr=False)  # their labels, int64
    batches: tuple[slice, ...] = field(init=False, repr=False)

    def __post_init__(self):
        dtype = _dtype(self.dtype)
        if not isinstance(self.images, Images):
            raise InvalidProblem(f"images must be a bridge.images.Images, got {_shown(self.images)}")
        hidden = _count("hidden", self.hidden, 1)
        if hidden > MAX_HIDDEN:
            raise InvalidProblem(f"hidden must be <= {MAX_HIDDEN}, got {_shown(self.hidden)}")
        available = len(self.images.y_train)
        size = available if self.train_size is None else _count("train_size", self.train_size, 1)
        if size > available:
            raise InvalidProblem(f"train_size must be <= the {available} training images, got {size}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidProblem(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {_shown(self.optimizer)}")
        if self.records not in RECORDS:
            raise InvalidProblem(f"records must be one of {', '.join(RECORDS)}, got {_shown(self.records)}")
        for name in ("epsilon_hat", "from_logits"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidProblem(f"{name} must be True or False, got {_shown(getattr(self, name))}")
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (a frozen dataclass)
        set_("hidden", hidden)
        set_("seed", _count("seed", self.seed, 0))
        for name in ("lr", "beta_1", "beta_2", "epsilon"):
            set_(name, _number(name, getattr(self, name), dtype))
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise InvalidProblem(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.epsilon <= 0:
            raise InvalidProblem(f"epsilon must be > 0, got {self.epsilon!r}")
        set_("epochs", _count("epochs", self.epochs, 0))
        batch_size = _count("batch_size", self.batch_size, 1)
        if batch_size > size:
            raise InvalidProblem(f"batch_size must be <= the {size} training images, got {batch_size}")
        set_("batch_size", batch_size)
        given = [v is not None for v in (self.w1, self.b1, self.w2, self.b2)]
        if any(given) and not all(given):
            raise InvalidProblem("give all of w1, b1, w2 and b2, or none of them (they are drawn from seed)")
        drawn = (self.w1, self.b1, self.w2, self.b2) if all(given) else _glorot(self.inputs, hidden, self.seed)
        for name, layer, value in zip(("w1", "b1", "w2", "b2"), LAYERS, drawn):
            value = _samples(name, np.ravel(np.asarray(value, dtype=np.float64)), dtype)
            if value.size != self.sizes[layer]:
                raise InvalidProblem(f"{name} must hold {self.sizes[layer]} numbers, got {value.size}")
            set_(name, value)
        x = self.images.x_train[:size].astype(dtype)
        x.flags.writeable = False
        set_("x", x)
        set_("labels", self.images.y_train[:size])
        set_("train_size", None if self.train_size is None else size)
        set_("batches", _consecutive(size, batch_size))

    longest_batch = Batched.longest_batch
    updates = Batched.updates

    @property
    def y(self) -> np.ndarray:
        """The training labels, by Keras's name for them (fit(x, y)): what each loop's prepare() reads."""
        return self.labels

    @property
    def inputs(self) -> int:
        """Pixels per image: 64 for the digits, 784 for MNIST."""
        return self.images.x_train.shape[1]

    @property
    def has_bias(self) -> bool:
        """Both layers have biases; the trajectory keeps them in `parameters`, as a network's."""
        return False

    @property
    def sizes(self) -> dict[str, int]:
        """How many numbers each parameter holds: W1 inputs x H, b1 H, W2 H x 10, b2 10."""
        h = self.hidden
        return dict(zip(LAYERS, (self.inputs * h, h, h * CLASSES, CLASSES)))

    @property
    def values_per_update(self) -> int:
        """The loss, then every parameter's gradient and new value."""
        return 1 + 2 * sum(self.sizes.values())

    @property
    def layers_every(self) -> int:
        """Every how many updates a run keeps the layers: 1, or once an epoch (records="epoch")."""
        return len(self.batches) if self.records == "epoch" else 1

    @property
    def initial(self) -> dict[str, list[float]]:
        """The starting parameters by name (LAYERS), each flat (W1 row by row: input by input)."""
        return dict(zip(LAYERS, (self.w1.tolist(), self.b1.tolist(), self.w2.tolist(), self.b2.tolist())))

    @property
    def layers(self) -> tuple:
        """The parameters shaped as the layers use them: W1 (inputs x H), b1 (H), W2 (H x 10), b2 (10)."""
        return self.w1.reshape(self.inputs, -1), self.b1, self.w2.reshape(-1, CLASSES), self.b2

    def logits(self, parameters: dict, x) -> np.ndarray:
        """The network's logits for each image in x, in float64: relu(x W1 + b1) W2 + b2."""
        w1 = np.reshape(np.asarray(parameters["W1"], dtype=np.float64), (self.inputs, -1))
        w2 = np.reshape(np.asarray(parameters["W2"], dtype=np.float64), (-1, CLASSES))
        h = np.maximum(np.asarray(x, dtype=np.float64) @ w1 + np.asarray(parameters["b1"]), 0)
        return h @ w2 + np.asarray(parameters["b2"])

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def scores(self, parameters: dict, x, labels) -> tuple[float, float]:
        """The mean cross-entropy and the accuracy on images x with labels, in float64 (the loss from logits)."""
        z = self.logits(parameters, x)
        s = z - z.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        labels = np.asarray(labels)
        loss = -float(np.mean(log_p[np.arange(len(labels)), labels]))
        return loss, float(np.mean(z.argmax(axis=1) == labels))

    def predictions(self, parameters: dict) -> tuple[np.ndarray, np.ndarray]:
        """Each test image's predicted class (the largest logit) and its margin over the runner-up, in float64."""
        z = self.logits(parameters, self.images.x_test)
        top_two = np.sort(z, axis=1)[:, -2:]
        return z.argmax(axis=1), top_two[:, 1] - top_two[:, 0]

    def final(self, trained: dict) -> dict:
        """The parameters after the last update (trained: by name, as kept), or the initial ones."""
        return {name: rows[-1] for name, rows in trained.items()} if self.updates else self.initial

    def epoch_scores(self, trained: dict) -> list[dict[str, float]]:
        """Before training, then after each epoch: train and test loss and accuracy (trained: by name, as kept)."""
        kept_per_epoch = len(self.batches) // self.layers_every
        ends = [
            {name: rows[(epoch + 1) * kept_per_epoch - 1] for name, rows in trained.items()}
            for epoch in range(self.epochs)
        ]
        found = []
        for parameters in (self.initial, *ends):
            train = self.scores(parameters, self.x, self.labels)
            test = self.scores(parameters, self.images.x_test, self.images.y_test)
            found.append(dict(zip(("train_loss", "train_accuracy", "test_loss", "test_accuracy"), (*train, *test))))
        return found

    def __repr__(self) -> str:
        adam = (
            f", beta_1={self.beta_1!r}, beta_2={self.beta_2!r}, epsilon={self.epsilon!r}, "
            f"epsilon_hat={self.epsilon_hat}"
            if self.optimizer == "adam"
            else ""
        )
        return (
            f"Classifier({self.images.name}, n={len(self.labels)}, hidden={self.hidden}, optimizer={self.optimizer!r}, "
            f"lr={self.lr!r}{adam}, epochs={self.epochs}, batch_size={self.batch_size}, "
            f"from_logits={self.from_logits}, dtype={self.dtype!r}, seed={self.seed}"
            + (f", records={self.records!r})" if self.records != "step" else ")")
        )


def _glorot(inputs: int, hidden: int, seed: int) -> tuple[list[float], list[float], list[float], list[float]]:
    """Keras's default start: each kernel uniform in +-sqrt(6 / (fan_in + fan_out)), biases 0 (Python's generator)."""
    rng = random.Random(seed)
    limits = math.sqrt(6 / (inputs + hidden)), math.sqrt(6 / (hidden + CLASSES))
    w1 = [rng.uniform(-limits[0], limits[0]) for _ in range(inputs * hidden)]
    w2 = [rng.uniform(-limits[1], limits[1]) for _ in range(hidden * CLASSES)]
    return w1, [0.0] * hidden, w2, [0.0] * CLASSES


PROBLEMS = (OneWeight, Batched, Network, Classifier)
LOOPS = {OneWeight: "one_weight", Batched: "batched", Network: "network", Classifier: "classifier"}


def layered(problem) -> bool:
    """Whether the problem trains layers (a Network or a Classifier): its records are per layer, not one weight."""
    return isinstance(problem, (Network, Classifier))


def loop_of(problem) -> str:
    """Which loop trains the problem: one_weight, batched, network or classifier (an impl module's functions)."""
    return LOOPS[type(problem)]


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


def _digits(**changes):
    """A preset on scikit-learn's digits, built when first asked for (loading them imports scikit-learn)."""

    def build():
        from bridge.images import digits

        return Classifier(digits(), **DIGITS, **changes)

    return build


# 16 ReLU units, batches of 32 (45 updates an epoch), 3 epochs: the pure-Python reference trains it in seconds
DIGITS = dict(hidden=16, epochs=3, batch_size=32, seed=2026)


class _Presets(Mapping):
    """The named problems: read-only; a classifier's is built when first asked for, and kept."""

    def __init__(self, built: dict, later: dict):
        self._built, self._later = built, later

    def __getitem__(self, name):
        if name not in self._built and name in self._later:
            self._built[name] = self._later[name]()
        return self._built[name]

    def __iter__(self):
        return iter([*[n for n in self._built if n not in self._later], *self._later])

    def __len__(self) -> int:
        return len(set(self._built) | set(self._later))

    def __contains__(self, name) -> bool:  # without building it
        return name in self._built or name in self._later


PRESETS = _Presets(
    _presets(),
    {
        "digits": _digits(lr=0.1),  # plain SGD
        # Adam with Keras's defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7
        "digits_adam": _digits(lr=0.001, optimizer="adam", beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    },
)


def preset(name: str, dtype: str = "float64"):
    """The named preset in the given dtype."""
    if name not in PRESETS:
        raise UnknownName(f"unknown problem {name!r}; choose one of: {', '.join(PRESETS)}")
    return with_changes(PRESETS[name], dtype=dtype)


def with_changes(problem, **changes):
    """A copy of problem with some fields replaced, validated like a new one."""
    given = {f.name: getattr(problem, f.name) for f in fields(problem) if f.init}
    if isinstance(problem, (Network, Classifier)) and {"hidden", "seed", "images"} & changes.keys():
        given.update(w1=None, b1=None, w2=None, b2=None)  # a new width, seed or data set draws new parameters
    given.update(changes)
    return type(problem)(**given)
