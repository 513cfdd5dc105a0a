"""Implementations x presets x dtypes: each must meet its claim against the reference, on the suite's --device."""

import math

import numpy as np
import pytest

import bridge
from bridge.compare import expected_departure
from bridge.devices import parse
from bridge.rows import IN_PROCESS, REGISTRY
from tests.helpers import check_bitwise, check_claim, device_for, impl_params, stress, train

pytestmark = pytest.mark.device  # runs on the suite's --device

PRESET_NAMES = list(bridge.PRESETS)
DTYPES = ["float64", "float32"]


# The fast tier's core: every row (the data-parallel ones too) on the lesson, one batched preset and the network
# preset's first 5 epochs (80 updates of its 480: the same loop, a sixth of the time); --full runs all of mlp
CORE_PRESETS = ["lesson", "mini_batch", "mlp"]
CORE_EPOCHS = {"mlp": 5}


CORE = [  # (row, preset) for every row and each core preset it has a loop for: the data-parallel rows, batches only
    pytest.param(p.values[0], preset, marks=p.marks, id=f"{p.id}-{preset}")
    for p in impl_params(parallel=True)
    for preset in CORE_PRESETS
    if bridge.REGISTRY[p.values[0]].applies(bridge.PRESETS[preset])
]


@pytest.mark.core
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, preset", CORE)
def test_conforms_on_the_core_presets(name, preset, dtype):
    problem, rerun = bridge.preset(preset, dtype), preset  # rerun: what follows --problem in the command that reruns it
    if preset in CORE_EPOCHS:
        problem, rerun = (
            bridge.with_changes(problem, epochs=CORE_EPOCHS[preset]),
            f"{preset} --epochs {CORE_EPOCHS[preset]}",
        )
    check_claim(name, problem, rerun)


def in_a_worker_on_a_network(name: str, preset: str) -> bool:
    """A row that runs in a worker process (Keras), on a network preset: 480 updates at 7 to 30 ms each here.

    The core presets run its network loop (mlp's first 5 epochs, both dtypes) in every tier; the whole of mlp
    and mlp_tanh (whose tanh is the backend's own, checked in that backend's rows here) are the stress profile's.
    """
    return REGISTRY[name].runner != IN_PROCESS and isinstance(bridge.PRESETS[preset], bridge.Network)


def long(name: str, preset: str) -> bool:
    """Whether this row on this preset is the stress profile's: a worker's network, or a whole classifier preset
    (135 updates; the pure-Python reference alone takes 15 s in float32: tests/test_classifier.py runs shorter)."""
    return in_a_worker_on_a_network(name, preset) or isinstance(bridge.PRESETS[preset], bridge.Classifier)


FULL = [  # (row, preset) for every row and each preset beyond the core that it has a loop for
    pytest.param(p.values[0], preset, marks=[*p.marks, *([stress] if long(p.values[0], preset) else [])])
    for p in impl_params()
    for preset in PRESET_NAMES
    if (preset not in CORE_PRESETS or preset in CORE_EPOCHS) and REGISTRY[p.values[0]].applies(bridge.PRESETS[preset])
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, preset", FULL, ids=lambda v: v)
def test_conforms(name, preset, dtype):
    check_claim(name, bridge.preset(preset, dtype), preset)


ONE_WEIGHT_PRESETS = [p for p in PRESET_NAMES if isinstance(bridge.PRESETS[p], bridge.OneWeight)]


# XLA-compiled steps fuse multiply-adds; on a GPU, so do Inductor's Triton kernels
XLA = ("tf_function", "jax_jit", "keras_jax")
FUSED_ON = {"cpu": XLA, "gpu": (*XLA, "torch_compile")}
FUSED = {name: name in FUSED_ON[parse(device_for(name)).kind] for name in bridge.IMPLEMENTATIONS}
UNFUSED = [n for n in bridge.IMPLEMENTATIONS if not FUSED[n]]
NARROWED = sorted(n for n, row in bridge.REGISTRY.items() if row.narrows)  # Keras: float64 in float32


BITWISE_CASES = [  # (implementation, dtype) pairs that claim bitwise one-weight runs
    pytest.param(name.values[0], dtype, marks=name.marks, id=f"{name.id}-{dtype}")
    for name in impl_params(UNFUSED)
    for dtype in DTYPES
    if not (name.values[0] in NARROWED and dtype == "float64")
]


@pytest.mark.parametrize("preset", ONE_WEIGHT_PRESETS)
@pytest.mark.parametrize("name, dtype", BITWISE_CASES)
def test_one_weight_presets_are_bitwise(name, preset, dtype):
    # flushing subnormals is the only departure allowed in this loop, and no preset reaches one
    check_bitwise(name, bridge.preset(preset, dtype), preset)


@pytest.mark.parametrize("name", UNFUSED)
def test_one_weight_loop_departs_only_by_flushing_subnormals_or_a_zeros_sign(name):
    # no rounding differs in this loop: TF and XLA flush subnormals, Keras on torch turns -0.0 into +0.0
    departure = expected_departure(name, bridge.preset("lesson", "float32"), device_for(name))
    assert departure is None or (not departure.reorders and (departure.flushes or "+0.0" in departure.cause))


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
@pytest.mark.parametrize("name", bridge.IMPLEMENTATIONS)
def test_only_compilers_fuse(name, kind):
    departure = expected_departure(name, bridge.preset("lesson", "float32"), kind)
    fuses = departure is not None and "FMA" in departure.cause.replace("fused multiply-add", "FMA")
    assert fuses == (name in FUSED_ON[kind])
    assert not fuses or bridge.REGISTRY[name].compiled


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
@pytest.mark.parametrize("name", bridge.IMPLEMENTATIONS)
def test_only_keras_on_jax_and_torch_narrows_float64(name, kind):
    narrowed = expected_departure(name, bridge.preset("lesson", "float64"), kind)
    assert (narrowed is not None and narrowed.precision == "float32") == (name in NARROWED)
    for preset in ("lesson", "bias"):
        departure = expected_departure(name, bridge.preset(preset, "float32"), kind)
        assert departure is None or departure.precision is None, "float32 runs are never narrowed"


@pytest.mark.slow  # 700 steps in every row
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", impl_params())
def test_explode_diverges_at_the_same_step(name, dtype):
    problem = bridge.preset("explode", dtype)
    reference, trajectory = bridge.train("python", problem), train(name, problem)
    assert reference.first_non_finite() is not None, "explode must reach inf/NaN"
    if name in NARROWED and dtype == "float64":  # computing in float32, it overflows where float32 does
        reference = bridge.train("python", bridge.preset("explode", "float32"))
    assert trajectory.first_non_finite() == reference.first_non_finite()
    assert math.isnan(trajectory.weights[-1]), "once the weight is inf, inf - inf gives NaN"


# One preset per shape a record takes: one weight, a batched weight, a weight and a bias, a network's layers
RECORD_SHAPES = ["lesson", "mini_batch", "bias", "mlp"]


@pytest.mark.slow  # a run per row and shape: the core presets' runs check the values already
@pytest.mark.parametrize("preset", RECORD_SHAPES)
@pytest.mark.parametrize("name", impl_params())
def test_records_one_entry_per_update(name, preset):
    problem = bridge.preset(preset)
    if preset in CORE_EPOCHS:
        problem = bridge.with_changes(problem, epochs=CORE_EPOCHS[preset])
    trajectory = train(name, problem)
    if isinstance(problem, bridge.Network):  # every layer's gradient and values, per update
        sizes = [(problem.updates, problem.sizes[n]) for n in problem.sizes]
        assert [np.shape(trajectory.parameters[n]) for n in problem.sizes] == sizes
        assert [np.shape(trajectory.gradients[n]) for n in problem.sizes] == sizes
        assert len(trajectory.losses) == problem.updates and trajectory.weights == trajectory.grads == []
    else:
        assert len(trajectory.weights) == len(trajectory.losses) == len(trajectory.grads) == problem.updates
    assert (trajectory.implementation, trajectory.dtype, trajectory.device) == (name, "float64", device_for(name))


@pytest.mark.parametrize("name", impl_params())
def test_float32_run_holds_only_float32_values(name):
    trajectory = train(name, bridge.preset("mini_batch", "float32"))
    for value in trajectory.weights + trajectory.losses + trajectory.grads:
        assert bridge.floats.to_float32(value) == value
    rows = train(name, bridge.with_changes(bridge.preset("mlp_tanh", "float32"), epochs=2)).network_rows()
    assert (rows.astype(np.float32).astype(np.float64) == rows).all()


@pytest.mark.parametrize("name", impl_params())
def test_zero_steps_and_epochs_record_nothing(name):
    assert len(train(name, bridge.OneWeight(1.5, 3.0, 0.0, 0.1, 0))) == 0
    assert len(train(name, bridge.Batched([1.0, 2.0], [2.0, 4.0], 0.0, 0.1, 0, 1))) == 0


@pytest.mark.parametrize("name", impl_params())
def test_batch_larger_than_data_is_one_batch(name):
    problem = bridge.Batched([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], w0=0.0, lr=0.05, epochs=2, batch_size=100)
    assert problem.updates == 2
    check_claim(name, problem)


@pytest.mark.parametrize("name", impl_params())
def test_a_batch_of_three_thousand_conforms(name):
    # deep graphs and long sums: python_autograd once overflowed Python's recursion limit here
    x = [((7 * i) % 200 - 100) / 50 for i in range(3000)]
    problem = bridge.Batched(x, [2 * v for v in x], w0=0.5, lr=0.1, epochs=1, batch_size=3000)
    check_claim(name, problem)


@pytest.mark.parametrize("name", impl_params(["torch_compile"]))
def test_torch_compile_runs_past_dynamos_default_recompile_limit(name):
    # Dynamo compiles a graph of the step per dtype, batch size 1 or more, slice offset and NaN weight or not; its
    # default limit is 8 graphs, and with fullgraph=True the next is an error (Hypothesis found one in a long run).
    # torch_compile's loops raise the limit for their own run (bridge.devices.torch_recompiles): here the
    # process's limit is 1, so every new graph below would fail without that.
    import torch

    x = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 3.0]
    with torch._dynamo.config.patch(recompile_limit=1):  # (pytest's monkeypatch breaks torch's config modules)
        for dtype in ("float64", "float32"):
            for n, size in ((1, 1), (2, 1), (5, 2), (7, 3)):
                for b0 in (None, 0.5):
                    check_claim(name, bridge.Batched(x[:n], [2 * v for v in x[:n]], 0.0, 0.1, 2, size, dtype, b0))
        assert torch._dynamo.config.recompile_limit == 1, "raised for the run only"
