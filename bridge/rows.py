"""The row table: one entry per implementation, in teaching order, each holding every fact about it (bridge.row.Row).

Nothing else in bridge/ keeps a table keyed by a row's name: the tests and the commands read these entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from bridge import causes
from bridge.budget import Cost
from bridge.causes import CPU, GPU, H200, H200_LOOPS, Combine, Departure, flushes, plain, split
from bridge.errors import UnknownName
from bridge.parallel import MAX_WORKERS, Pace
from bridge.row import ALL_LOOPS, IN_PROCESS, KERAS_WORKER, LAUNCHER, WITH_CLASSIFIER, Row

__all__ = ["ALL_LOOPS", "IMPLEMENTATIONS", "IN_PROCESS", "KERAS_WORKER", "LAUNCHER", "REGISTRY", "Row", "get"]

TORCH = {"framework": "torch", "requires": ("torch",), "distributions": ("torch",), "extra": "torch"}
TORCH |= {"device_check": "torch"}
TENSORFLOW = {"framework": "tensorflow", "requires": ("tensorflow",), "extra": "tensorflow"}
TENSORFLOW |= {"distributions": ("tensorflow", "tensorflow-cpu"), "device_check": "tensorflow"}
JAX = {"framework": "jax", "requires": ("jax",), "distributions": ("jax",), "extra": "jax", "device_check": "jax"}
ON_H200 = {GPU: (H200, H200_LOOPS)}
AUTOGRAD_ORDER = causes.ORDER + causes.AUTOGRAD_MEAN
TORCH_NETWORK = causes.TORCH_DOT + "; torch's mean and matmul" + causes.NETWORK_ORDER


def classifying(framework: str, library: str) -> str:
    """A classifier's cause: the framework's own matrix products, and its library's exp and log."""
    return framework + causes.CLASSIFIER_ORDER + causes.EXP_LOG.format(library)


def keras(backend: str, label: str, extra: str, measured_at, stress_only=("one_weight",), **facts) -> Row:
    """Keras 3 on one backend: the lesson as the next lesson writes it (impl/keras.py), in a worker of its own."""
    return Row(
        name=f"keras_{backend}",
        summary=f"Keras 3 on {label}: Sequential([Dense(1)]), SGD, loss='mse', fit()",
        module="impl.keras",
        runner=KERAS_WORKER,
        framework="keras",
        requires=("keras", backend),
        distributions=("keras",),
        extra=f"keras,{extra}",
        device_check=backend,
        backend=backend,
        autodiff=True,
        compiled=backend != "torch",  # the JAX trainer compiles its step with XLA; TensorFlow's may (tf.function)
        cost=Cost(
            200, 320, steps_are_samples=True, measured_at=measured_at, stress_only=stress_only, per_pixel=40
        ),  # and its worker
        environment={"KERAS_BACKEND": backend},
        loops=WITH_CLASSIFIER,
        adam_form="epsilon_hat",  # keras.optimizers.Adam
        **facts,
    )


def compiled_by_xla(flusher: str, mean: str, zero: str, library: str = "") -> dict:
    """A step XLA compiles (tf_function, jax_jit): fused multiply-adds, XLA's dot, flushing, the batch's own order."""
    library = library or flusher
    network = causes.FMA + "; " + causes.XLA_DOT + "; " + zero + "; " + library + causes.NETWORK_ORDER
    return {
        ("one_weight", CPU): flushes(flusher, causes.FMA),
        ("batched", CPU): flushes(flusher, causes.FMA + f"; {mean}" + AUTOGRAD_ORDER),
        ("network", CPU): flushes(flusher, network),
    }


def data_parallel(flusher: str | None, adds: str = "", scalings: int = 0) -> dict:
    """A data-parallel row's claims: the split at every worker count, with what the row adds and who flushes."""
    return {("batched", CPU, n): split(n, flusher, adds, scalings) for n in range(1, MAX_WORKERS + 1)}


_ENTRIES = (
    Row(
        name="python",
        summary="the lesson's loop in plain floats; float32 emulated by rounding",
        module="impl.python",
        reference=True,
        loops=WITH_CLASSIFIER,
        tanh=None,  # correctly rounded, from decimal (floats.tanh_rounded)
        exp_log="libm",  # math.exp and math.log, rounded to the dtype
        cost=Cost(48, 256, measured_at=(300_000, 200_000, 3_000), per_pixel=48),
    ),
    Row(
        name="numpy",
        summary="NumPy scalars and arrays",
        module="impl.numpy",
        framework="numpy",
        requires=("numpy",),
        distributions=("numpy",),  # a core dependency
        loops=WITH_CLASSIFIER,
        tanh="numpy",
        exp_log="numpy",
        floor_target=4.0,
        claims={
            ("batched", CPU): plain(causes.NUMPY_PAIRWISE),
            ("network", CPU): plain(causes.NUMPY_DOT + "; np.mean" + causes.NETWORK_ORDER),
            ("classifier", CPU): plain(classifying("OpenBLAS's", "numpy")),
        },
        cost=Cost(48, 24, measured_at=(300_000, 1_000_000, 20_000), per_pixel=0.1),
    ),
    Row(
        name="torch_manual",
        summary="torch tensors, the hand-derived gradient",
        module="impl.torch_manual",
        **TORCH,
        loops=WITH_CLASSIFIER,
        tanh="torch",
        exp_log="torch",
        claims={
            ("batched", CPU): plain("torch's mean" + causes.ORDER),
            ("network", CPU): plain(TORCH_NETWORK),
            ("classifier", CPU): plain(classifying("torch's", "torch")),
        },
        measured=ON_H200,
        cost=Cost(56, 64, measured_at=(30_000, 1_000_000, 20_000), per_pixel=10),
    ),
    Row(
        name="python_autograd",
        summary="plain Python, a tiny reverse-mode autograd (micrograd's idea)",
        module="impl.python_autograd",
        autodiff=True,
        loops=WITH_CLASSIFIER,
        slow_loops=("classifier",),  # 70,000 Values a batch of 32 digits: 1.2 s an update here
        tanh="libm",
        exp_log="libm",
        claims={
            ("classifier", CPU): plain(causes.VALUE_CLASSIFIER),
            ("batched", CPU): plain(causes.VALUE_MEAN),
            ("network", CPU): plain(causes.VALUE_ZERO + "; backward()" + causes.NETWORK_ORDER),
        },
        cost=Cost(48, 2400, measured_at=(60_000, 20_000, 300), per_pixel=4400),  # a Value node per operation per sample
    ),
    Row(
        name="torch_autograd",
        summary="torch tensors, loss.backward()",
        module="impl.torch_autograd",
        **TORCH,
        autodiff=True,
        loops=WITH_CLASSIFIER,
        tanh="torch",
        exp_log="torch",
        adam_form="epsilon",  # torch.optim.Adam
        claims={
            ("batched", CPU): plain("torch's mean" + AUTOGRAD_ORDER),
            ("network", CPU): plain(TORCH_NETWORK),
            ("classifier", CPU): plain(classifying("torch's", "torch")),
        },
        measured=ON_H200,
        cost=Cost(56, 80, measured_at=(10_000, 1_000_000, 20_000), per_pixel=10),
    ),
    Row(
        name="tf_tape",
        summary="TensorFlow eager, tf.GradientTape",
        module="impl.tf_tape",
        **TENSORFLOW,
        autodiff=True,
        loops=WITH_CLASSIFIER,
        tanh="eigen",
        exp_log="eigen",
        adam_form="epsilon_hat",  # tf.keras.optimizers.Adam: Keras 3's
        adam_powers_from="float32",
        claims={
            ("one_weight", CPU): flushes("TensorFlow"),
            ("batched", CPU): flushes("TensorFlow", "tf.reduce_mean" + AUTOGRAD_ORDER),
            ("network", CPU): flushes("TensorFlow", causes.TF_ZERO + "; TensorFlow" + causes.NETWORK_ORDER),
            ("classifier", CPU): flushes("TensorFlow", classifying("TensorFlow's", "eigen") + causes.KERAS_FLOATX),
        },
        cost=Cost(  # a tensor per recorded value; its one-weight measurement (12 s) in the stress profile
            1800, 120, measured_at=(1_500, 1_000_000, 20_000), stress_only=("one_weight",), per_pixel=18
        ),
    ),
    Row(
        name="jax_grad",
        summary="JAX, jax.value_and_grad (eager)",
        module="impl.jax_grad",
        **JAX,
        autodiff=True,
        loops=WITH_CLASSIFIER,
        tanh="xla",
        exp_log="xla",
        adam_form="epsilon",  # optax.adam
        claims={
            ("one_weight", CPU): flushes("XLA"),
            ("batched", CPU): flushes("XLA", "jnp.mean" + AUTOGRAD_ORDER),
            ("network", CPU): flushes("XLA", causes.XLA_DOT + "; " + causes.JAX_ZERO + "; JAX" + causes.NETWORK_ORDER),
            ("classifier", CPU): flushes("XLA", classifying("XLA's", "xla")),
        },
        measured=ON_H200,
        cost=Cost(5600, 104, measured_at=(400, 1_000_000, 20_000), per_pixel=16),  # a tuple of arrays per update
    ),
    Row(
        name="tf_function",
        summary="TensorFlow, the step compiled: tf.function(jit_compile=True)",
        module="impl.tf_function",
        **TENSORFLOW,
        autodiff=True,
        compiled=True,
        loops=WITH_CLASSIFIER,
        tanh="xla",
        exp_log="xla",
        adam_form="epsilon_hat",  # tf.keras.optimizers.Adam: Keras 3's
        adam_powers_from="float32",
        claims=compiled_by_xla("TensorFlow", "tf.reduce_mean", causes.TF_ZERO)
        | {
            ("classifier", CPU): flushes(
                "TensorFlow", causes.FMA_CLASSIFIER + classifying("; XLA's", "xla") + causes.KERAS_FLOATX
            )
        },
        floor_target=2.0,
        cost=Cost(
            1800, 72, measured_at=(1_500, 1_000_000, 20_000), stress_only=("one_weight", "batched"), per_pixel=18
        ),
    ),
    Row(
        name="torch_compile",
        summary="torch, the step compiled: torch.compile",
        module="impl.torch_compile",
        **TORCH,
        compiled=True,
        loops=WITH_CLASSIFIER,
        tanh="inductor",
        exp_log="inductor",
        claims={
            ("classifier", CPU): plain(causes.INDUCTOR_CLASSIFIER + classifying("; Inductor's", "inductor")),
            ("batched", CPU): plain("the compiled mean" + causes.ORDER),
            ("network", CPU): plain(causes.COMPILED_ZERO + "; the compiled mean" + causes.NETWORK_ORDER),
            ("one_weight", GPU): plain(causes.TRITON_FMA),
            ("batched", GPU): plain("the compiled mean" + causes.ORDER + "; " + causes.TRITON_FMA),
        },
        measured=ON_H200,
        floor_target=2.0,
        cost=Cost(  # one fused kernel: no temporaries per sample
            56, 24, measured_at=(15_000, 1_000_000, 20_000), stress_only=("one_weight", "batched"), per_pixel=12
        ),
    ),
    Row(
        name="jax_jit",
        summary="JAX, the whole loop compiled: jax.jit of a lax.scan",
        module="impl.jax_jit",
        **JAX,
        autodiff=True,
        compiled=True,
        loops=WITH_CLASSIFIER,
        tanh="xla",
        exp_log="xla",
        adam_form="epsilon",  # optax.adam
        claims=compiled_by_xla("XLA", "jnp.mean", causes.JAX_ZERO, "JAX")
        | {("classifier", CPU): flushes("XLA", causes.FMA_CLASSIFIER + classifying("; XLA's", "xla"))},
        measured=ON_H200,
        floor_target=2.0,
        cost=Cost(
            64, 40, measured_at=(300_000, 1_000_000, 20_000), per_pixel=10
        ),  # the scan's stacked outputs, their host copy, the lists
    ),
    keras(
        "tensorflow",
        "TensorFlow",
        "tensorflow",
        (10_000, 300_000, 20_000),
        ("one_weight", "batched"),  # the Keras rows share impl/keras.py and its worker: keras_jax is measured
        tanh="eigen",
        exp_log="eigen",
        adam_powers_from="float32",
        recovers_logits=True,  # keras.src.backend.tensorflow.nn._get_logits
        claims={
            ("one_weight", CPU): flushes("TensorFlow"),
            ("batched", CPU): flushes("TensorFlow", causes.KERAS_ORDER),
            ("network", CPU): flushes("TensorFlow", causes.TF_ZERO + "; " + causes.KERAS_ORDER),
            ("classifier", CPU): flushes("TensorFlow", classifying("TensorFlow's", "eigen")),
        },
    ),
    keras(
        "jax",
        "JAX",
        "jax",
        (10_000, 300_000, 20_000),  # a one-weight run: 20 s at a measurable size
        tanh="xla",
        exp_log="xla",
        narrows=causes.KERAS_JAX_NARROWS,
        narrows_in=ALL_LOOPS,  # its classifier's loss keeps float64: the same bits with the promotion undone
        claims={
            ("one_weight", CPU): flushes("XLA", causes.KERAS_XLA),
            ("batched", CPU): flushes("XLA", causes.KERAS_XLA + "; " + causes.KERAS_ORDER),
            ("network", CPU): flushes("XLA", causes.XLA_DOT + "; " + causes.JAX_ZERO + "; " + causes.KERAS_ORDER),
            ("classifier", CPU): flushes("XLA", classifying("XLA's", "xla")),
        },
        measured=ON_H200,
    ),
    keras(
        "torch",
        "torch",
        "torch",
        (4_000, 300_000, 20_000),
        ("one_weight", "batched"),
        tanh="torch",
        exp_log="torch",
        narrows=causes.KERAS_TORCH_NARROWS,
        claims={
            ("classifier", CPU): plain(classifying("torch's", "torch")),
            # found by Hypothesis; the bounds then allow nothing beyond underflow-sized (eta) differences
            ("one_weight", CPU): Departure(causes.KERAS_TORCH_ZERO),
            ("batched", CPU): plain(causes.KERAS_ORDER),
            ("network", CPU): plain(causes.TORCH_DOT + "; " + causes.KERAS_ORDER),
        },
        measured=ON_H200,
    ),
    # The data-parallel rows: the batched loop over workers, each run in a launcher (bridge.runners.launcher).
    # Their costs are estimates, not measurements: their data and records live in other processes.
    # Their paces were measured (bridge.parallel.Pace says how) on 2026-12-03.
    Row(
        name="torch_ddp",
        summary="torch, DistributedDataParallel over gloo (NCCL on GPUs), one process per worker",
        module="impl.torch_ddp",
        runner=LAUNCHER,
        **TORCH,
        autodiff=True,
        loops=("batched",),
        claims=data_parallel(None, causes.DDP_SCALING, scalings=2),
        combine=Combine(
            causes.DDP_COMBINE,
            causes.DDP_DOCUMENTED,
            reciprocal=True,
            orders=((0, 1), (1, 2, 0)),  # gloo's ring
        ),
        cost=Cost(2000, 400),
        pace=Pace(5, 1.1),
        single="torch_autograd",
        worker_loop="worker_loop",  # what each worker runs, once its process group is joined
        rank_loop="worker",  # the launcher starts one process per worker, each running worker()
    ),
    Row(
        name="jax_sharded",
        summary="JAX, the batch sharded over devices: jax.shard_map and psum",
        module="impl.jax_sharded",
        runner=LAUNCHER,
        **JAX,
        autodiff=True,
        compiled=True,
        loops=("batched",),
        claims=data_parallel("XLA", causes.SHARDED_XLA),
        combine=Combine(causes.PSUM_COMBINE, causes.PSUM_DOCUMENTED, orders=((0, 1), (0, 1, 2))),
        cost=Cost(6000, 400),
        pace=Pace(3, 0.3),
        worker_devices="JAX_NUM_CPU_DEVICES",  # read once, when JAX starts: hence a process of its own
        single="jax_grad",
    ),
    Row(
        name="tf_mirrored",
        summary="TensorFlow, tf.distribute.MirroredStrategy over logical CPUs or GPUs",
        module="impl.tf_mirrored",
        runner=LAUNCHER,
        **TENSORFLOW,
        autodiff=True,
        loops=("batched",),
        claims=data_parallel("TensorFlow"),
        combine=Combine(causes.MIRRORED_COMBINE, causes.MIRRORED_DOCUMENTED, orders=((0, 1), (0, 1, 2))),
        cost=Cost(2000, 400),
        pace=Pace(5, 12),
        single="tf_tape",
    ),
    Row(
        name="keras_data_parallel",
        summary="Keras 3 on JAX, keras.distribution.DataParallel, then fit()",
        module="impl.keras_data_parallel",
        runner=LAUNCHER,
        framework="keras",
        requires=("keras", "jax"),
        distributions=("keras",),
        extra="keras,jax",
        device_check="jax",  # its devices are JAX's
        autodiff=True,
        compiled=True,
        loops=("batched",),
        narrows=causes.KERAS_DP_NARROWS,
        claims=data_parallel("XLA", causes.KERAS_DP),
        combine=Combine(causes.KERAS_DP_UNSEEN, causes.KERAS_DP_DOCUMENTED, unreplayed=causes.KERAS_DP_UNSEEN),
        cost=Cost(2000, 800),
        pace=Pace(5, 0.8),
        environment={"KERAS_BACKEND": "jax"},  # DataParallel is built for JAX
        worker_devices="JAX_NUM_CPU_DEVICES",
        single="keras_jax",
    ),
)

REGISTRY: dict[str, Row] = {row.name: row for row in _ENTRIES}


class _Names(Sequence):
    """The rows' names in teaching order: a live view, so a row registered later is listed too."""

    def __getitem__(self, index):
        return tuple(REGISTRY)[index]

    def __len__(self) -> int:
        return len(REGISTRY)

    def __repr__(self) -> str:
        return repr(tuple(REGISTRY))


IMPLEMENTATIONS = _Names()


def get(name: str) -> Row:
    """The row for name, or UnknownName listing the choices."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownName(f"unknown implementation {name!r}; choose one of: {', '.join(IMPLEMENTATIONS)}") from None


def reference_row() -> Row:
    """The row every other is compared with."""
    return next(row for row in REGISTRY.values() if row.reference)


@contextlib.contextmanager
def registered(row: Row):
    """Within the block, the table holds this row too (last in teaching order): how a new framework joins."""
    if row.name in REGISTRY:
        raise ValueError(f"a row named {row.name!r} exists already")
    REGISTRY[row.name] = row
    try:
        yield row
    finally:
        REGISTRY.pop(row.name, None)
