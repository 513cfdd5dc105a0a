"""The benchmark's rows, workloads and floor, shared by the pytest-benchmark suite and `descent bench`."""

import functools
import os
import random

import numpy as np

import bridge
from benchmarks.peers import PEERS
from bridge.devices import check, device_name, parse
from bridge.images import synthetic

QUICK = os.environ.get("DESCENT_BENCH_QUICK") == "1"  # tiny sizes: a smoke run, seconds not minutes
DEVICE = os.environ.get("DESCENT_BENCH_DEVICE", "cpu")
ON_GPU = parse(DEVICE).kind == "gpu"
DEVICE_NAME = device_name(DEVICE)  # recorded with every result: the processor, or the card
STEP_SIZES = [10**3, 10**4] if QUICK else [10**3, 10**4, 10**5, 10**6] + ([10**7] if ON_GPU else [])
EPOCH_SIZE, EPOCH_BATCH = (10**4, 1024) if QUICK else (10**6, 1024)
PYTHON_LOOPS = ("python", "python_autograd")  # a Python loop over every sample
TOO_SLOW = 10**5  # python_autograd's largest N here: 1.1 s a step at 10^5 (13.6 s at 10^6, measured before)


def runs_here(name: str) -> bool:
    """Whether a row runs on this benchmark's device: on a GPU, only the GPU-capable rows that see it."""
    row = bridge.REGISTRY.get(name)
    installed = row.installed() if row else PEERS[name].installed()
    if not installed or not ON_GPU:
        return installed
    if row is not None and not row.gpu:
        return False
    try:
        row.check_device(DEVICE) if row else check(PEERS[name].requires[0], DEVICE)
    except bridge.DeviceUnavailable:
        return False
    return True


def row_of(name: str):
    """A row's entry, or a peer's facts as a row."""
    return bridge.REGISTRY.get(name) or PEERS[name].row


def framework_of(name: str) -> str:
    """Whose code a row runs, as its peer stands for it: torch, jax, tensorflow, keras/<backend>, numpy, python."""
    row = bridge.REGISTRY[name]
    return f"{row.framework}/{row.backend}" if row.backend else row.framework or "python"


# The data-parallel rows are not benchmarked: a run of theirs is mostly process start-up and a rendezvous,
# and the lesson's one-weight workload is not theirs to run.
SINGLE_PROCESS = [n for n in bridge.IMPLEMENTATIONS if not bridge.REGISTRY[n].parallel]
ROWS = [n for n in (*SINGLE_PROCESS, *PEERS) if runs_here(n) and "batched" in row_of(n).loops]

# The next lesson's classifier (issue 21): Adam with Keras's defaults, in float32 (Keras's), on the digits
# (1,437 images of 64 pixels, 16 units, batches of 32) and on synthetic images of MNIST's size (60,000 of 784
# pixels, 128 units, batches of 128), whose run keeps its records per epoch (bridge.budget). An epoch's time is
# the difference between a 3-epoch and a 1-epoch run, halved. Rows that loop over every pixel in Python are left out
# where an epoch would take minutes (python on MNIST's size: a Python multiply-add per pixel per unit).
MNIST_SIZE = (2_000, 784, 32) if QUICK else (60_000, 784, 128)  # training images, pixels, hidden units


def times_its_classifier(name: str) -> bool:
    """A classifier loop that runs in seconds: not one in Row.slow_loops (python_autograd's, seconds an update)."""
    row = row_of(name)
    return "classifier" in row.loops and "classifier" not in row.slow_loops


CLASSIFYING = [n for n in (*SINGLE_PROCESS, *PEERS) if runs_here(n) and times_its_classifier(n)]


def device_of(name: str) -> str:
    row = bridge.REGISTRY.get(name)
    return str(row.device_for(DEVICE)) if row else DEVICE


def extra_steps(name: str) -> int:
    """How many more updates the long run makes than the short one: enough to stand out of the noise."""
    if name in PYTHON_LOOPS:
        return 3
    return 100 if ON_GPU and not name.startswith("keras") else 20


def data(n: int, seed: int = 1):
    """n samples of y = 2x + noise, as float64 (Python's own generator: stable across versions)."""
    rng = random.Random(seed)
    x = np.array([rng.uniform(-2.0, 2.0) for _ in range(n)])
    return x, 2.0 * x + np.array([rng.uniform(-0.5, 0.5) for _ in range(n)])


def full_batch(n: int, epochs: int, dtype: str = "float64") -> bridge.Batched:
    x, y = data(n)
    return bridge.Batched(x, y, w0=0.0, lr=0.1, epochs=epochs, batch_size=n, dtype=dtype)


def mini_batch(n: int, epochs: int, dtype: str = "float64") -> bridge.Batched:
    x, y = data(n)
    return bridge.Batched(x, y, w0=0.0, lr=0.05, epochs=epochs, batch_size=EPOCH_BATCH, dtype=dtype)


def tf32_off() -> dict:
    """Keep float32 float32 on GPUs: TF32 would round matmul inputs to 10 bits. Returns the settings.

    These loops have no matrix product, so TF32 could not touch them; it is
    switched off anyway, so that a change to the loops cannot bring it in unseen.
    """
    settings = {}
    try:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        settings["torch_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    except ImportError:
        pass
    try:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        settings["tf_tensor_float_32"] = tf.config.experimental.tensor_float_32_execution_enabled()
    except ImportError:
        pass
    try:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        settings["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    except ImportError:
        pass
    return settings


def synchronize(values) -> None:
    """Wait until every tensor in values is on its device: the clock stops after a copy ends, not when it starts."""
    for value in values or ():
        module = type(value).__module__
        if module.startswith("torch") and value.is_cuda:
            import torch

            torch.cuda.synchronize(value.device)
        elif hasattr(value, "block_until_ready"):  # a jax.Array
            value.block_until_ready()
        elif module.startswith("tensorflow") and "GPU" in value.device.upper():
            import tensorflow as tf

            tf.test.experimental.sync_devices()


class Floor:
    """The least a step can do on this device: read x and y once, as one dot product there."""

    def __init__(self, n: int):
        x, y = data(n)
        self.bytes = x.nbytes + y.nbytes
        self.framework = "numpy" if not ON_GPU else "torch" if runs_here("torch_manual") else "jax"
        if self.framework == "numpy":
            self.x, self.y, self.dot = x, y, np.dot
        elif self.framework == "torch":
            import torch

            self.x, self.y = (torch.tensor(v, device=bridge.devices.torch_device(DEVICE)) for v in (x, y))
            self.dot = torch.dot
        else:
            import jax

            with jax.enable_x64(True):
                where = bridge.devices.jax_device(DEVICE)
                self.x, self.y = (jax.device_put(v, where) for v in (x, y))
            matmul = jax.jit(lambda a, b: a @ b)

            def dot(a, b):
                with jax.enable_x64(True):  # float64 stays float64
                    return matmul(a, b)

            self.dot = dot
        self.label = f"{self.framework}.dot"

    def run(self, times: int) -> None:
        """times dot products, one after another, and one wait for the device at the end."""
        for _ in range(times):
            result = self.dot(self.x, self.y)
        synchronize([result])


def digits(epochs: int) -> bridge.Classifier:
    """The next lesson's classifier on the digits: Adam with Keras's defaults, float32, every update recorded."""
    quick = {"train_size": 250} if QUICK else {}  # a smoke run: 8 updates an epoch
    return bridge.with_changes(bridge.preset("digits_adam", "float32"), epochs=epochs, **quick)


@functools.cache
def _mnist_images():
    return synthetic(*MNIST_SIZE[:2])


def mnist_sized(epochs: int) -> bridge.Classifier:
    """60,000 synthetic images of 784 pixels -> 128 ReLU -> 10, Adam, float32, batches of 128, records per epoch."""
    return bridge.Classifier(
        _mnist_images(),
        hidden=MNIST_SIZE[2],
        lr=0.001,
        epochs=epochs,
        batch_size=128,
        optimizer="adam",
        dtype="float32",
        seed=2026,
        records="epoch",
    )


def learned(problem, final: dict) -> str:
    """The verdict of a run whose records are per epoch: no step to compare; what it learned, as evaluate says it."""
    accuracy = problem.scores(final, problem.images.x_test, problem.images.y_test)[1]
    return f"not compared (records per epoch); test accuracy {accuracy:.2%}"


def classifier_runs_here(name: str, problem) -> bool:
    """A Python loop over every pixel only on the digits."""
    return not (name in PYTHON_LOOPS and problem.inputs * len(problem.x) > 10**6)


class MatmulFloor:
    """The least an epoch can do: its five matrix products per batch (x W1, h W2, h^T d, d W2^T, x^T d_z), alone.

    Timed in torch (its CPU matmul, MKL's or oneDNN's) where installed, else NumPy, in the problem's dtype,
    on random numbers of the right shapes: no activation, no loss, no update, no records.
    """

    def __init__(self, problem):
        rng = np.random.default_rng(0)
        m, inputs, hidden = problem.batch_size, problem.inputs, problem.hidden
        shapes = [(m, inputs), (inputs, hidden), (m, hidden), (hidden, 10), (m, 10)]
        arrays = [rng.standard_normal(s).astype(problem.dtype) for s in shapes]
        self.batches = len(problem.batches)
        self.flops = 2 * len(problem.x) * (2 * inputs * hidden + 3 * hidden * 10)  # per epoch, every batch
        self.framework = "torch" if runs_here("torch_manual") else "numpy"
        if self.framework == "torch":
            import torch

            where = bridge.devices.torch_device(DEVICE)
            arrays = [torch.tensor(a, device=where) for a in arrays]
            self.mm = torch.mm
        else:
            self.mm = np.matmul
        self.x, self.w1, self.h, self.w2, self.d = arrays
        self.label = f"{self.framework} matmul"

    def epoch(self) -> None:
        """One epoch's products, one batch after another, and one wait for the device at the end."""
        mm, x, w1, h, w2, d = self.mm, self.x, self.w1, self.h, self.w2, self.d
        for _ in range(self.batches):
            mm(x, w1)  # 1: the hidden layer's pre-activations
            mm(h, w2)  # 2: the ten scores
            mm(h.T, d)  # 4: dW2
            d_h = mm(d, w2.T)  # 4: the error sent back through W2
            d_w1 = mm(x.T, d_h)  # 4: dW1
        synchronize([d_w1])
