"""The Keras rows: model.fit walks the hand loop's path, and each departure's cause, pinned by experiment.

Found per backend (Keras 3, CPU):
- TensorFlow: bitwise in the one-weight loop, both dtypes; batches sum in TF's own order.
- torch: bitwise in float32; float64 is computed in float32, because Keras's type
  promotion turns float64 into float32 on every backend but TensorFlow.
- JAX: the train step is compiled by XLA, which fuses multiply-adds; float64 as torch.
Each is undone by one change (keep_float64, jit_compile=False), and then the run agrees.
"""

import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge.compare import claim_for, compare, expected_departure
from bridge.runners import keras_worker
from bridge.wire import problem_from_json, problem_to_json
from tests.helpers import fused_one_weight, impl_params

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # Keras's own behaviour, each backend in a process of its own: --full

KERAS = [n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].backend]  # keras_data_parallel: test_parallel.py
ONE_WEIGHT = ["lesson", "overshoot", "crawl", "practice"]


def keras_installed(backend):
    return pytest.mark.skipif(not bridge.REGISTRY[f"keras_{backend}"].installed(), reason="Keras backend missing")


def backends(*names):
    """One pytest param per Keras backend, skipped where it is not installed."""
    return [pytest.param(b, marks=keras_installed(b)) for b in names or ("tensorflow", "jax", "torch")]


def in_keras(backend: str, code: str, x64: bool = False) -> str:
    """Run code in a fresh process with this Keras backend (x64: with JAX's float64 on); its last line."""
    x64_on = "import jax; jax.config.update('jax_enable_x64', True)\n" if x64 and backend == "jax" else ""
    env_code = f"import os; os.environ['KERAS_BACKEND'] = {backend!r}\n{x64_on}import keras, numpy as np\n{code}"
    result = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


NARROWED = {n: row.narrows for n, row in bridge.REGISTRY.items() if row.narrows and row.backend}


def verdict(problem, trajectory, judged_as=None):
    """Against the reference, held to judged_as's claim (None: bitwise)."""
    claim = claim_for(judged_as, problem) if judged_as else bridge.claims.BITWISE
    return compare(problem, bridge.train("python", problem), trajectory, claim)


def keras_train(backend: str, problem, **options) -> bridge.Trajectory:
    """Keras on this backend in its worker, with compile's options (jit_compile) or keep_float64."""
    return keras_worker.submit(bridge.REGISTRY[f"keras_{backend}"], problem, "cpu", **options)()


def test_three_keras_rows_in_teaching_order():
    assert KERAS == ["keras_tensorflow", "keras_jax", "keras_torch"]
    single = [n for n in bridge.IMPLEMENTATIONS if not bridge.REGISTRY[n].parallel]  # the data-parallel rows come last
    assert single[-3:] == KERAS


# ---- float64 becomes float32 on JAX and torch ----


@pytest.mark.parametrize("backend", backends())
def test_keras_type_promotion_turns_float64_into_float32_except_on_tensorflow(backend):
    code = (
        "from keras.src.backend.common import dtypes\n"
        "print(keras.backend.result_type('float64', 'float64'), dtypes.BIT64_TO_BIT32_DTYPE['float64'])"
    )
    expected = "float64" if backend == "tensorflow" else "float32"
    assert in_keras(backend, code, x64=True) == f"{expected} {expected}"
    assert (f"keras_{backend}" in NARROWED) == (backend != "tensorflow")


@pytest.mark.parametrize("backend", backends())
def test_which_float64_operations_keras_rounds_to_float32(backend):
    # float64 in, float64 exact out? ops.mean (loss='mse') and ops.matmul (Dense)
    code = (
        "x, k = np.array([[0.1]]), np.array([[0.3]])\n"
        "mean, product = keras.ops.mean(x, axis=-1), keras.ops.matmul(x, k)\n"
        "print(float(mean[0]) == 0.1, float(product[0, 0]) == 0.1 * 0.3)"
    )
    exact = {"tensorflow": "True True", "jax": "False True", "torch": "False False"}[backend]
    assert in_keras(backend, code, x64=True) == exact
    if backend in ("jax", "torch"):
        assert ("mean" in NARROWED[f"keras_{backend}"]) == (backend == "jax")  # on torch the matmul says it all


@pytest.mark.parametrize("name", impl_params(sorted(NARROWED)))
def test_narrowed_float64_prints_a_different_lesson_line(name):
    # what a student sees: step 1's loss is 2.7225 exactly; rounded once in float32 it lands above
    python, keras = (bridge.train(n, bridge.PRESETS["lesson"]) for n in ("python", name))
    assert f"{python.losses[1]:.3f}" == "2.722" and f"{keras.losses[1]:.3f}" == "2.723"
    assert keras.losses[1] == bridge.floats.to_float32(keras.losses[1]), "a float32 number in a float64 run"


@pytest.mark.parametrize("preset", ONE_WEIGHT + ["mini_batch", "bias"])
@pytest.mark.parametrize("backend", backends("jax", "torch"))
def test_keeping_float64_makes_keras_agree(backend, preset):
    problem = bridge.preset(preset, "float64")
    # on JAX, the compiler's fusion is undone too, so that the float64 claim is TensorFlow's own
    trajectory = keras_train(backend, problem, keep_float64=True, jit_compile=False)
    result = verdict(problem, trajectory, judged_as="keras_tensorflow")  # bitwise one-weight, bounded batches
    assert result.conforms, result.summary()
    if preset in ONE_WEIGHT:
        assert result.status == "bitwise", result.summary()


@keras_installed("tensorflow")
def test_without_floatx_float64_the_learning_rate_is_held_in_float32():
    # why impl/keras.py calls keras.config.set_floatx: SGD keeps its learning rate in floatx
    code = (
        "for floatx in ('float32', 'float64'):\n"
        "    keras.config.set_floatx(floatx)\n"
        "    sgd = keras.optimizers.SGD(learning_rate=0.1)\n"
        "    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer='zeros', dtype='float64')\n"
        "    model = keras.Sequential([keras.Input((1,), dtype='float64'), dense])\n"
        "    model.compile(optimizer=sgd, loss='mse')\n"
        "    model.fit(np.array([[1.5]]), np.array([[3.0]]), verbose=0)\n"
        "    print(sgd.learning_rate.dtype, repr(float(keras.ops.convert_to_numpy(dense.kernel)[0, 0])), end=' ')\n"
        "print()"
    )
    # step 0 of the lesson: 0 - lr * -9 is exactly the float nearest 0.9 only with lr the float64 nearest 0.1
    assert in_keras("tensorflow", code) == "float32 0.9000000134110451 float64 0.9"


# ---- JAX compiles the step: fused multiply-adds ----


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("preset", ["lesson", "overshoot", "crawl"])
@keras_installed("jax")
def test_keras_jax_departs_only_by_fused_multiply_adds(preset, dtype):
    problem = bridge.preset(preset, dtype)
    fused = fused_one_weight(problem)  # exact FMA emulation (tests/test_causes.py)
    compiled = keras_train("jax", problem, keep_float64=True)
    assert compare(problem, fused, compiled).status == "bitwise"
    assert verdict(problem, keras_train("jax", problem, keep_float64=True, jit_compile=False)).status == ("bitwise"), (
        "compile(jit_compile=False) runs op by op: no fusion"
    )


# ---- TensorFlow: a Python float in Constant() is read as float32 ----


@keras_installed("tensorflow")
def test_tf_cast_reads_a_python_float_as_float32():
    # why impl/keras.py hands Constant() a NumPy scalar: Keras's TF backend casts with tf.cast
    code = (
        "w0 = 0.1\n"
        "print(float(keras.ops.cast(w0, 'float64')) == w0, float(keras.ops.cast(np.float64(w0), 'float64')) == w0)"
    )
    assert in_keras("tensorflow", code) == "False True"


@pytest.mark.parametrize("name", impl_params(["keras_tensorflow", "keras_torch", "keras_jax"]))
def test_a_starting_weight_that_float32_cannot_hold_survives(name):
    problem = bridge.OneWeight(x=1.0, y=0.0, w0=0.1, lr=0.0, steps=1, dtype="float64")
    weight = bridge.train(name, problem).weights[0]
    assert weight == 0.1, "lr 0: the weight is w0 as Keras stored it"


# ---- torch: the kernel's gradient is a matmul ----


@keras_installed("torch")
def test_keras_torch_gradient_turns_minus_zero_into_plus_zero():
    problem = bridge.OneWeight(x=0.0, y=0.0, w0=-0.0, lr=0.0, steps=1, dtype="float32")
    reference, keras = bridge.train("python", problem), bridge.train("keras_torch", problem)
    assert str(reference.grads[0]) == "-0.0" and str(keras.grads[0]) == "0.0"
    assert "+0.0" in expected_departure("keras_torch", problem).cause
    assert compare(problem, reference, keras, claim_for("keras_torch", problem)).conforms


# ---- what is recorded ----


@pytest.mark.parametrize("name", impl_params(KERAS))
def test_loss_is_each_batchs_own_not_the_running_mean(name):
    # fit's logs["loss"] averages the epoch so far; a running mean would not match the reference's batch losses
    problem = bridge.preset("mini_batch", "float32")
    trajectory = bridge.train(name, problem)
    result = verdict(problem, trajectory, name)
    assert result.conforms and result.max_ulps["losses"] <= 8, result.summary()
    running = [sum(trajectory.losses[: k + 1]) / (k + 1) for k in range(4)]
    assert running[1:] != trajectory.losses[1:4]


@pytest.mark.parametrize("name", impl_params(KERAS))
def test_keras_rows_record_the_bias(name):
    problem = bridge.preset("bias", "float32")
    trajectory = bridge.train(name, problem)
    assert len(trajectory.biases) == len(trajectory.bias_grads) == problem.updates
    assert verdict(problem, trajectory, name).conforms


@pytest.mark.parametrize("backend", backends())
def test_one_epoch_of_repeated_samples_is_epochs_over_one_sample(backend):
    # impl/keras.py runs the lesson as one epoch of 20 batches of the one sample; the same as 20 epochs
    code = (
        "import bridge, impl.keras as lesson\n"
        "p = bridge.preset('lesson', 'float32')\n"
        "a, b = lesson.one_weight(p), lesson.fit(lesson.build, p, [p.x], [p.y], p.steps, 1, 'cpu')\n"
        "print(len(a), (a.weights, a.losses, a.grads) == (b.weights, b.losses, b.grads))"
    )
    assert in_keras(backend, code) == "20 True"


def test_problems_cross_to_the_worker_exactly():
    for problem in (bridge.preset("lesson", "float32"), bridge.PRESETS["bias"], bridge.PRESETS["full_batch"]):
        back = problem_from_json(problem_to_json(problem))
        assert repr(back) == repr(problem)
        if isinstance(problem, bridge.Batched):
            assert back.x.tobytes() == problem.x.tobytes() and back.y.tobytes() == problem.y.tobytes()


@keras_installed("torch")
def test_worker_errors_arrive_as_the_same_bridge_error():
    with pytest.raises(bridge.DeviceUnavailable, match="device 'cuda:7' is not available to torch"):
        bridge.train("keras_torch", bridge.PRESETS["lesson"], device="cuda:7")
    assert len(bridge.train("keras_torch", bridge.PRESETS["practice"])) == 1, "the worker lives on after an error"


def test_missing_keras_backend_names_the_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    with pytest.raises(bridge.FrameworkMissing, match=r"keras_jax needs jax, which is not installed: .*\[keras,jax\]"):
        bridge.train("keras_jax", bridge.PRESETS["lesson"])
