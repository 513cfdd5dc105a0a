"""Each departure from bitwise, and each choice made to avoid one, pinned by experiment.

If a framework changes behaviour, these tests fail and say which comment or
claim in a row's entry (bridge/rows.py) has gone stale. The experiments run on the
CPU, where the CPU rows' causes were established; those named for the suite's
--device run there too, and the values a GPU gave are kept here as data.
"""

import json
import math
import platform
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge.claims import claim_for, expected_departure
from bridge.compare import compare
from bridge.devices import parse
from bridge.floats import rounder, to_float32
from tests.helpers import FLOAT64_EXACT, device_for, fused_one_weight, impl_params, train

pytestmark = pytest.mark.slow  # the experiments behind each cause: --full (the recorded runs: the fast tier)

RNG = random.Random(20261124)
SAMPLE = [RNG.uniform(-10, 10) for _ in range(20_000)]
GLIBC = platform.libc_ver()[0] == "glibc"


def exact_square(value: float, dtype: str) -> float:
    """The correctly rounded square, from exact rational arithmetic."""
    return rounder(dtype)(float(Fraction(value) ** 2))  # float32: value^2 is exact in float64 first


def loss_of(name: str, value: float, dtype: str) -> float:
    """The first loss an implementation reports when its error (pred - y) is value."""
    return bridge.train(name, bridge.OneWeight(x=1.0, y=0.0, w0=value, lr=0.0, steps=1, dtype=dtype)).losses[0]


@pytest.mark.skipif(not GLIBC, reason="the misrounding seen is glibc's pow(); other libms may round correctly")
def test_libm_pow_misrounds_some_squares():
    # why impl/python.py writes error * error and impl/numpy.py np.square
    misrounded = [v for v in SAMPLE if v**2 != exact_square(v, "float64")]
    assert misrounded, "glibc pow(x, 2) rounded every square correctly: the comments in impl/ are stale"
    assert any(np.float64(v) ** 2 != exact_square(v, "float64") for v in misrounded)  # NumPy scalars call it too
    assert all(v * v == exact_square(v, "float64") for v in misrounded)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_every_loss_is_the_correctly_rounded_square(name, dtype):
    if name not in FLOAT64_EXACT and dtype == "float64":
        dtype = "float32"  # its float64 loss is a float32 square (tests/test_keras.py): check that one
    # five squares glibc's pow() misrounds (those that tell pow from one multiplication), and one more
    values = [v for v in SAMPLE if v**2 != exact_square(v, "float64")][:5] + SAMPLE[:1]
    for value in map(rounder(dtype), values):
        assert loss_of(name, value, dtype) == exact_square(value, dtype), (name, value)


def test_tensorflow_pow_misrounds_squares_where_square_does_not():
    tf = pytest.importorskip("tensorflow")
    for dtype in ("float64", "float32"):
        t = tf.constant(SAMPLE, dtype=dtype)
        assert int(tf.reduce_sum(tf.cast(tf.pow(t, 2.0) != t * t, tf.int32))) > 0, "impl/tf_tape.py comment stale"
        assert bool(tf.reduce_all(tf.square(t) == t * t))


def test_torch_and_jax_square_with_one_multiplication():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    for dtype in ("float64", "float32"):
        t = torch.tensor(SAMPLE, dtype=getattr(torch, dtype))
        assert torch.equal(t**2, t * t)
    j = jnp.asarray(SAMPLE, dtype="float32")
    assert bool(jnp.all(j**2 == j * j))


SUBNORMAL_GRADIENT = {  # gradient 2 * (w x) * x lands below the smallest normal number
    "float64": bridge.OneWeight(x=2.0**-8, y=0.0, w0=2.0**-1016, lr=0.0, steps=1, dtype="float64"),
    "float32": bridge.OneWeight(x=2.0**-8, y=0.0, w0=2.0**-112, lr=0.0, steps=1, dtype="float32"),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_subnormals_are_kept_or_flushed_as_documented(name, dtype):
    problem = SUBNORMAL_GRADIENT[dtype]
    reference = bridge.train("python", problem)
    assert 0 < abs(reference.grads[0]) < np.finfo(dtype).tiny, "the reference keeps the subnormal"
    departure = expected_departure(name, problem)
    # flushed to zero, or computed in float32, where a float64 subnormal is 0 too
    zeroed = departure is not None and (departure.flushes or departure.precision == "float32")
    assert (bridge.train(name, problem).grads[0] == 0.0) == zeroed
    verdict = compare(problem, reference, bridge.train(name, problem), claim_for(name, problem))
    assert verdict.status == ("bounded" if zeroed else "bitwise")


def pairwise_sum(values, r):
    """NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src), emulated."""
    n = len(values)
    if n < 8:
        total = -0.0
        for v in values:
            total = r(total + v)
        return total
    if n <= 128:
        partial = list(values[:8])
        i = 8
        while i < n - n % 8:
            partial = [r(p + v) for p, v in zip(partial, values[i : i + 8])]
            i += 8
        p = partial
        total = r(r(r(p[0] + p[1]) + r(p[2] + p[3])) + r(r(p[4] + p[5]) + r(p[6] + p[7])))
        for v in values[i:]:
            total = r(total + v)
        return total
    half = n // 2
    half -= half % 8
    return r(pairwise_sum(values[:half], r) + pairwise_sum(values[half:], r))


def pairwise_batched(problem):
    """impl/python.py's batched loop with NumPy's summation order in its mean."""
    r = rounder(problem.dtype)
    x, y = problem.x.tolist(), problem.y.tolist()
    weight, trajectory = problem.w0, bridge.Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y[batch]
            errors = [r(r(weight * xi) - yi) for xi, yi in zip(xb, yb)]
            loss = r(pairwise_sum([r(e * e) for e in errors], r) / len(xb))
            grad = r(pairwise_sum([r(r(2 * e) * xi) for e, xi in zip(errors, xb)], r) / len(xb))
            weight = r(weight - r(problem.lr * grad))
            trajectory.record(loss, grad, weight)
    return trajectory


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["full_batch", "mini_batch"])
def test_numpy_departs_only_by_pairwise_summation(preset, dtype):
    problem = bridge.preset(preset, dtype)
    numpy_run, reordered = bridge.train("numpy", problem), pairwise_batched(problem)
    assert compare(problem, reordered, numpy_run).status == "bitwise"  # no claim given: bitwise required
    assert compare(problem, bridge.train("python", problem), numpy_run, claim_for("numpy", problem)).status == "bounded"


# x = 1, 2, 3 and y = 2, 3, 5 at w = 0: the terms 2 (w x - y) x are exact, but 1/3 is not
THIRDS = {d: bridge.Batched([1.0, 2.0, 3.0], [2.0, 3.0, 5.0], 0.0, 2.0**-6, 1, 3, d) for d in ("float64", "float32")}


def prescaled_gradient(problem, last_first=False) -> float:
    """The mean's backward pass: each term scaled by fl(1/n) before the sum."""
    r = rounder(problem.dtype)
    third = r(1 / 3)
    terms = [r(r(third * r(2 * (0.0 - y))) * x) for x, y in zip(problem.x.tolist(), problem.y.tolist())]
    if last_first:  # python_autograd's backward() reaches the last sample first
        terms.reverse()
    return r(r(terms[0] + terms[1]) + terms[2])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_autograd_scales_by_one_over_n_before_summing(name, dtype):
    if name not in FLOAT64_EXACT and dtype == "float64":
        pytest.skip("computed in float32: see tests/test_keras.py")
    problem = THIRDS[dtype]
    reference, grad = bridge.train("python", problem).grads[0], bridge.train(name, problem).grads[0]
    autodiff = bridge.REGISTRY[name].autodiff  # Keras differentiates with the backend's autodiff
    last_first = name == "python_autograd"  # its backward() reaches the last sample first
    expected = prescaled_gradient(problem, last_first) if autodiff else reference
    assert grad == expected
    assert prescaled_gradient(problem) != reference  # the example does tell the two apart
    departure = bridge.REGISTRY[name].claims.get(("batched", "cpu"))
    assert ("1/n" in (departure.cause if departure else "")) == autodiff


def test_float32_emulation_rounds_like_numpy():
    for a, b in zip(SAMPLE, reversed(SAMPLE)):
        fa, fb = np.float32(a), np.float32(b)
        for exact, emulated in (
            (fa * fb, to_float32(float(fa) * float(fb))),
            (fa + fb, to_float32(float(fa) + float(fb))),
            (fa / fb, to_float32(float(fa) / float(fb))),
        ):
            assert float(exact) == emulated
    assert to_float32(3.5e38) == math.inf and to_float32(-3.5e38) == -math.inf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["lesson", "overshoot", "crawl"])
@pytest.mark.parametrize("name", impl_params(["tf_function", "jax_jit"]))
def test_compiled_xla_departs_only_by_fused_multiply_adds(name, preset, dtype):
    problem = bridge.preset(preset, dtype)
    fused, compiled = fused_one_weight(problem), bridge.train(name, problem)
    assert compare(problem, fused, compiled).status == "bitwise"  # no claim given: bitwise required
    assert compare(problem, bridge.train("python", problem), compiled, claim_for(name, problem)).status == "bounded"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jax_jit_without_the_compiler_is_bitwise(dtype):
    jax = pytest.importorskip("jax")
    problem = bridge.preset("lesson", dtype)
    with jax.disable_jit():  # the same code, run op by op: no fusion
        eager = bridge.train("jax_jit", problem)
    assert compare(problem, bridge.train("python", problem), eager).status == "bitwise"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tf_function_without_xla_is_bitwise(dtype, monkeypatch):
    pytest.importorskip("tensorflow")
    import impl.tf_function

    problem = bridge.preset("lesson", dtype)
    monkeypatch.setattr(impl.tf_function, "step", impl.tf_function.step.python_function)  # not compiled
    eager = bridge.train("tf_function", problem)
    assert compare(problem, bridge.train("python", problem), eager).status == "bitwise"


def first_difference(a, b) -> tuple[int, str] | None:
    """The first (step, quantity) where two trajectories differ, in the order the loop computes them."""
    for step in range(len(a)):
        for quantity in ("losses", "grads", "weights"):
            if getattr(a, quantity)[step] != getattr(b, quantity)[step]:
                return step, quantity
    return None


# torch_compile on a GPU: the first value of each one-weight preset that was not the reference's, as recorded
# on an NVIDIA H200 with torch 2.11.0+cu130 and Triton 3.6.0 (issue 9; `descent compare --device cuda`).
# (preset, dtype, quantity, step, the H200's value, the reference's value)
H200_TORCH_COMPILE = [
    ("lesson", "float64", "losses", 2, 0.82355625, 0.8235562499999995),
    ("lesson", "float32", "losses", 3, 0.24912570416927338, 0.24912576377391815),
    ("overshoot", "float64", "weights", 6, 4912.535681282811, 4912.535681282812),
    ("overshoot", "float32", "weights", 5, -1608.0113525390625, -1608.011474609375),
    ("crawl", "float64", "losses", 4, 6.226865457371072, 6.226865457371074),
    ("crawl", "float32", "weights", 4, 0.41128185391426086, 0.4112818241119385),
]


@pytest.mark.parametrize(
    "preset, dtype, quantity, step, on_h200, reference",
    H200_TORCH_COMPILE,
    ids=[f"{row[0]}-{row[1]}" for row in H200_TORCH_COMPILE],
)
def test_fused_multiply_adds_reproduce_torch_compile_on_an_h200(preset, dtype, quantity, step, on_h200, reference):
    problem = bridge.preset(preset, dtype)
    python, fused = bridge.train("python", problem), fused_one_weight(problem)
    assert getattr(python, quantity)[step] == reference
    assert first_difference(python, fused) == (step, quantity), "the emulation departs where the H200 did"
    assert getattr(fused, quantity)[step] == on_h200, "the FMA emulation no longer gives the H200's value"
    # judged as the H200's run was: the GPU claim; the CPU claim is bitwise, and would refuse it
    assert compare(problem, python, fused, claim_for("torch_compile", problem, "cuda")).status == "bounded"
    assert compare(problem, python, fused, claim_for("torch_compile", problem, "cpu")).status == "mismatch"


@pytest.mark.device
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["lesson", "overshoot", "crawl"])
@pytest.mark.parametrize("name", impl_params(["torch_compile"]))
def test_torch_compile_fuses_on_a_gpu_and_not_on_the_cpu(name, preset, dtype):
    # On the CPU, TorchInductor compiles its C++ without floating-point contraction: the reference's bits.
    # On a GPU, its Triton kernels fuse w * x - y and w - lr * grad: the FMA emulation's, at every step.
    problem = bridge.preset(preset, dtype)
    on_gpu = parse(device_for(name)).kind == "gpu"
    expected = fused_one_weight(problem) if on_gpu else bridge.train("python", problem)
    assert compare(problem, expected, train(name, problem)).status == "bitwise"  # no claim given: bitwise required


SWITCHED_OFF = """
import json, sys
import torch._inductor.config as inductor
inductor.emulate_precision_casts = True  # before the first compile; global to the process
from torch._inductor.codegen.triton import TritonKernel
import bridge
from bridge.compare import claim_for, compare
meta = getattr(TritonKernel, "triton_meta_common", None)  # in torch 2.13; older releases may name it otherwise
device, found = sys.argv[1], {"enable_fp_fusion": meta()["enable_fp_fusion"] if meta else None}
for preset in ("lesson", "overshoot", "crawl"):
    for dtype in ("float64", "float32"):
        problem = bridge.preset(preset, dtype)
        run = bridge.train("torch_compile", problem, device)
        claim = claim_for("torch_compile", problem, device)
        found[f"{preset}/{dtype}"] = compare(problem, bridge.train("python", problem), run, claim).status
print(json.dumps(found))
"""


@pytest.mark.device
@pytest.mark.parametrize("name", impl_params(["torch_compile"]))
def test_emulate_precision_casts_turns_inductors_fusion_off(name):
    # Inductor asks Triton to fuse multiply-adds (enable_fp_fusion), unless emulate_precision_casts is set.
    # On a GPU this is the fix shown: the switch on, torch_compile is bitwise again. It is global to Inductor,
    # so it runs in a process of its own; the project leaves it off, so that torch_compile is what users run.
    from torch._inductor.codegen.triton import TritonKernel

    meta = getattr(TritonKernel, "triton_meta_common", None)
    assert meta is None or meta()["enable_fp_fusion"] is True
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", SWITCHED_OFF, device_for(name)], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found.pop("enable_fp_fusion") is (False if meta else None)
    assert set(found.values()) == {"bitwise"}, found


def shapes_compiled(compile_for, device_after) -> list:
    """Compile (w * x).mean() for sizes 3 and 4 on the CPU, then 1000 on another device; each graph's input shapes."""
    torch = pytest.importorskip("torch")
    graphs = []

    def recording(graph, example_inputs):  # a Dynamo backend that only looks
        inputs = [n.meta.get("example_value") for n in graph.graph.nodes if n.op == "placeholder"]
        graphs.append([tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)])
        return graph.forward

    for n in (3, 4):
        compile_for("cpu", recording)(torch.tensor(1.0), torch.ones(n))
    compile_for(device_after, recording)(torch.tensor(1.0, device=device_after), torch.ones(1000, device=device_after))
    return graphs


def test_sizes_seen_on_the_cpu_shape_the_first_graph_on_another_device():
    # Why torch_compile keeps a compiled copy per device (bridge.devices.torch_compiled). Dynamo's automatic
    # dynamic shapes remember, per function, which sizes have changed; after sizes 3 and 4 on the CPU, the first
    # graph on any other device ("meta" here, where no GPU is) is shape-generic at once, tuned for the size it
    # happened to see first. On an H200 that left torch_compile 10-100x slower than in a fresh process (issue 9).
    torch = pytest.importorskip("torch")
    from bridge.devices import torch_compiled

    def mean_product(w, x):
        return (w * x).mean()

    shared = {}

    def one_function(device, backend):
        return shared.setdefault("f", torch.compile(mean_product, backend=backend, fullgraph=True))

    graphs = shapes_compiled(one_function, "meta")
    assert graphs[0] == [(), (3,)] and not all(isinstance(d, int) for d in graphs[-1][1]), graphs

    def per_device_product(w, x):  # a function Dynamo has not seen
        return (w * x).mean()

    def per_device(device, backend):
        return torch_compiled(per_device_product, torch.device(device), backend=backend)

    graphs = shapes_compiled(per_device, "meta")
    assert graphs[-1] == [(), (1000,)], "the copy for the other device compiles for its own size"


RECORDINGS = sorted((Path(__file__).resolve().parent / "recorded").glob("*.json"))  # python -m bridge.record


def recorded_runs():
    """One param per run in tests/recorded/, named by file, implementation, preset and dtype."""
    params = []
    for path in RECORDINGS:
        data = json.loads(path.read_text())
        for run in data["runs"]:
            label = f"{path.stem}-{run['implementation']}-{run['preset']}-{run['dtype']}"
            params.append(pytest.param(data["device_name"], run, id=label))
    return params


@pytest.mark.core  # the bounds and the verdict on recorded trajectories: the fast tier's
@pytest.mark.parametrize("device_name, run", recorded_runs())
def test_recorded_trajectory_meets_the_claim_for_its_device(device_name, run):
    # Recorded on a device that need not be here (the file says which): every step still meets its claim.
    from bridge.record import trajectory_of

    problem, recorded = bridge.preset(run["preset"], run["dtype"]), trajectory_of(run)
    claim = claim_for(run["implementation"], problem, run["device"])
    verdict = compare(problem, bridge.train("python", problem), recorded, claim)
    assert verdict.conforms, f"{run['implementation']} on {device_name}: {verdict.summary()}"
    departure = expected_departure(run["implementation"], problem, run["device"])
    if isinstance(problem, bridge.OneWeight) and (departure is None or departure.precision is None):
        # one weight: every step is the plain loop's or the FMA emulation's, and the emulation's only where fusing is
        # claimed for that device
        fused = fused_one_weight(problem)
        plain = compare(problem, bridge.train("python", problem), recorded).status == "bitwise"
        emulated = compare(problem, fused, recorded).status == "bitwise"
        assert plain or emulated, f"{run['implementation']} on {device_name}: neither the plain loop nor the FMAs"
        claims_fma = departure is not None and "fused multiply-add" in departure.cause
        assert plain or claims_fma, f"{run['implementation']} on {device_name} fuses, and its claim does not say so"
