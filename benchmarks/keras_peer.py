"""Keras's peer: fit() on a model built once, as a Keras user writes it, on the backend KERAS_BACKEND names.

Keras picks its backend when it is imported, so `descent bench` runs this file
in a pytest process of its own for each backend. The model is impl/keras.py's
(Sequential, Dense(1), SGD, loss="mse"), built and compiled once per problem,
without the recorders that watch fit; each timed round starts from w0 again.
The verdict comes from the same model and fit with the recorders attached
(they only read), judged by the claim of the lesson's Keras row for this
backend: the same model, loss and optimizer.
"""

import time

import keras
import numpy as np
import pytest

import bridge
from benchmarks import workloads as w
from bridge.claims import claim_for, reference_problem
from bridge.compare import compare
from bridge.devices import keras_device
from bridge.trajectory import LAYERS
from impl import keras as lesson

BACKEND = keras.backend.backend()
NAME, ROW = f"keras_fit_{BACKEND}", f"keras_{BACKEND}"
# what it is the yardstick of: Keras on this backend, and, on TensorFlow, tf.GradientTape's rows (a TensorFlow user
# today writes Keras's fit)
STANDS_FOR = [f"keras/{BACKEND}", *(["tensorflow"] if BACKEND == "tensorflow" else [])]
pytestmark = [
    pytest.mark.skipif(not w.runs_here(ROW), reason=f"Keras on {BACKEND} does not run on {w.DEVICE}"),
    # raised inside Keras's TensorFlow backend for every batch fit converts; nothing to act on here
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
]


def samples(problem):
    """fit's inputs: one column of x (the lesson's one sample repeated once per step, in one epoch)."""
    if isinstance(problem, bridge.OneWeight):
        return tuple(np.full((problem.steps, 1), v, problem.dtype) for v in (problem.x, problem.y))
    return problem.x.reshape(-1, 1), problem.y.reshape(-1, 1)


def measure(benchmark, workload, n, phase, problem, rounds):
    benchmark.group = f"{workload}, N={n}" if n > 1 else workload
    device = w.device_of(ROW)
    info = dict(implementation=NAME, workload=workload, n=n, phase=phase, updates=problem.updates, peer=True)
    info |= dict(epochs=getattr(problem, "epochs", None), device=device, version=f"keras {keras.__version__}")
    info |= dict(stands_for=STANDS_FOR)
    benchmark.extra_info.update(info, device_name=w.DEVICE_NAME)
    if phase == "transfer":
        pytest.skip("fit takes NumPy arrays and moves each batch itself")
    x, y = samples(problem)
    epochs, batch_size = (1, 1) if isinstance(problem, bridge.OneWeight) else (problem.epochs, problem.batch_size)
    with keras.device(keras_device(device)):
        model = lesson.build(problem, recording=False)
        kernel, start = model.layers[-1].kernel, model.layers[-1].get_weights()

        def fit():
            model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
            return keras.ops.convert_to_numpy(kernel.value)  # the weight on the host: the device has finished

        def from_w0():
            model.layers[-1].set_weights(start)

        begin = time.perf_counter()
        fit()  # the first call: traces and compiles the train step
        benchmark.extra_info["first_call_s"] = time.perf_counter() - begin
        if phase != "many":
            recorded = lesson.fit(lesson.build, problem, x, y, epochs, batch_size, device)  # the same model, watched
            recorded.implementation, recorded.dtype, recorded.device = ROW, problem.dtype, device
            found = compare(problem, bridge.train("python", problem), recorded, claim_for(ROW, problem, device))
            assert found.conforms, found.summary()
            benchmark.extra_info["verdict"] = found.summary()
        benchmark.pedantic(fit, setup=from_w0, rounds=rounds, warmup_rounds=0)


def test_lesson(benchmark):
    measure(benchmark, "lesson: 20 steps", 1, "run", bridge.PRESETS["lesson"], rounds=20)


@pytest.mark.parametrize("phase", ["few", "many"])
@pytest.mark.parametrize("n", w.STEP_SIZES)
def test_full_batch_step(benchmark, n, phase):
    epochs = {"few": 1, "many": 1 + w.extra_steps(NAME)}[phase]
    measure(benchmark, "full-batch step", n, phase, w.full_batch(n, epochs), rounds=5)


@pytest.mark.parametrize("phase", ["few", "many"])
def test_mini_batch_epoch(benchmark, phase):
    epochs = {"few": 1, "many": 3}[phase]
    workload = f"mini-batch epoch, batch {w.EPOCH_BATCH}"
    measure(benchmark, workload, w.EPOCH_SIZE, phase, w.mini_batch(w.EPOCH_SIZE, epochs), rounds=3)


def measure_classifier(benchmark, workload, phase, problem, rounds):
    """fit on the classifier built once (Sequential, Dense, compile), as the next lesson's reader writes it."""
    label = f"classifier epoch, {workload} ({problem.inputs} -> {problem.hidden} -> 10, batch {problem.batch_size})"
    benchmark.group = f"{label}, N={len(problem.x)}"
    device = w.device_of(ROW)
    info = dict(implementation=NAME, workload=label, n=len(problem.x), phase=phase, updates=problem.updates)
    info |= dict(peer=True, epochs=problem.epochs, device=device, version=f"keras {keras.__version__}", floor="matmul")
    benchmark.extra_info.update(info, device_name=w.DEVICE_NAME, stands_for=STANDS_FOR)
    if phase == "transfer":
        pytest.skip("fit takes NumPy arrays and moves each batch itself")
    x, y = np.asarray(problem.x, problem.dtype), problem.y
    with keras.device(keras_device(device)):
        model = lesson.build_classifier(problem, recording=False)

        def fit():
            model.fit(x, y, batch_size=problem.batch_size, epochs=problem.epochs, shuffle=False, verbose=0)
            return keras.ops.convert_to_numpy(model.layers[-1].kernel.value)  # on the host: the device has finished

        def from_the_start():
            model.set_weights([np.asarray(v, problem.dtype) for v in problem.layers])

        begin = time.perf_counter()
        fit()  # the first call: traces and compiles the train step
        benchmark.extra_info["first_call_s"] = time.perf_counter() - begin
        if phase != "many" and problem.layers_every == 1:  # the same model, watched, against the reference
            recorded = lesson.classifier(problem, device)
            recorded.implementation, recorded.dtype, recorded.device = ROW, problem.dtype, device
            own = reference_problem(bridge.REGISTRY[ROW], problem)
            found = compare(own, bridge.train("python", own), recorded, claim_for(ROW, problem, device))
            assert found.conforms, found.summary()
            benchmark.extra_info["verdict"] = found.summary()
        elif phase != "many":  # records per epoch: what the epoch learned
            from_the_start()
            fit()
            final = dict(zip(LAYERS, (v.ravel().tolist() for v in model.get_weights())))
            benchmark.extra_info["verdict"] = w.learned(problem, final)
        benchmark.pedantic(fit, setup=from_the_start, rounds=rounds, warmup_rounds=0)


@pytest.mark.parametrize("phase", ["few", "many"])
@pytest.mark.parametrize("workload", ["digits", "synthetic MNIST"])
def test_classifier_epoch(benchmark, workload, phase):
    epochs = {"few": 1, "many": 3}[phase]  # 2 epochs apart: above the noise of building and compiling the model
    problem = w.digits(epochs) if workload == "digits" else w.mnist_sized(epochs)
    measure_classifier(benchmark, workload, phase, problem, rounds=3)
