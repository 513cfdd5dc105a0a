"""The benchmark workloads, shared by the pytest-benchmark suite and `descent bench`."""

import os
import random

import numpy as np

import bridge

QUICK = os.environ.get("DESCENT_BENCH_QUICK") == "1"  # tiny sizes: a smoke run, seconds not minutes
DEVICE = os.environ.get("DESCENT_BENCH_DEVICE", "cpu")
STEP_SIZES = [10**3, 10**4] if QUICK else [10**3, 10**4, 10**5, 10**6]
EPOCH_SIZE, EPOCH_BATCH = (10**4, 1024) if QUICK else (10**6, 1024)
REPEATED_STEPS = 5  # full-batch step time = (run with 5 epochs - run with 0 epochs) / 5


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


def floor(x: np.ndarray, y: np.ndarray) -> float:
    """The least any step can do: read x and y once (one dot product)."""
    return float(np.dot(x, y))
