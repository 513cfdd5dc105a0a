"""The benchmark's rows, workloads and floor, shared by the pytest-benchmark suite and `descent bench`."""

import os
import random

import numpy as np

import bridge
from benchmarks.peers import PEERS
from bridge.devices import check, device_name, parse

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


# The data-parallel rows are not benchmarked: a run of theirs is mostly process start-up and a rendezvous,
# and the lesson's one-weight workload is not theirs to run.
SINGLE_PROCESS = [n for n in bridge.IMPLEMENTATIONS if not bridge.REGISTRY[n].parallel]
ROWS = [n for n in (*SINGLE_PROCESS, *PEERS) if runs_here(n)]


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
