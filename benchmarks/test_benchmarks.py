"""Every row x workload on one device (DESCENT_BENCH_DEVICE), timed by pytest-benchmark; the verdict beside the time.

The timed code is each implementation's own loop: bridge.registry.prepare()
puts the data on the device before the clock starts (timed apart, as
"transfer"), and the clock runs over bridge.registry.run(). A step's time is
a difference: a run with k more updates minus a short run, both on data
already there, divided by k; every run ends with its trajectory on the host,
so the device has finished before the clock stops. The first call of each
shape is timed apart: it includes any compilation. `descent bench` turns the
rounds into the table, with "below noise" where the difference is smaller
than the rounds' own spread.
"""

import time

import pytest

import bridge
from benchmarks import workloads as w
from benchmarks.peers import PEERS
from bridge.claims import claim_for, reference_problem
from bridge.compare import compare
from bridge.training import prepare as prepare_row
from bridge.training import run as run_row

TF32 = w.tf32_off()  # this process times only; the settings are recorded with every result
VERSIONS = {
    n: (bridge.REGISTRY[n].version() if n in bridge.REGISTRY else PEERS[n].version()) for n in {*w.ROWS, *w.CLASSIFYING}
}
REFERENCES = {}  # the python reference of each problem checked, computed once


def prepare(name, problem):
    if name in PEERS:
        return PEERS[name].prepare(problem, w.device_of(name))
    return prepare_row(name, problem, w.device_of(name))


def run(name, problem, data):
    if name in PEERS:
        return PEERS[name].train(problem, w.device_of(name), data)
    return run_row(name, problem, w.device_of(name), data)


def verdict(name, problem, trajectory) -> str:
    """The run against the python reference (on the problem as the row's Adam writes it), held to its claim."""
    row = PEERS[name].row if name in PEERS else bridge.REGISTRY[name]
    own = reference_problem(row, problem)
    key = repr(own)
    if key not in REFERENCES:
        REFERENCES[key] = bridge.train("python", own)
    found = compare(own, REFERENCES[key], trajectory, claim_for(row, problem, trajectory.device))
    assert found.conforms, found.summary()
    return found.summary()


def about(name) -> dict:
    """Whose code it is: a row's framework, or the frameworks a peer is the yardstick of (bridge.bench.targets)."""
    return {"stands_for": list(PEERS[name].stands_for)} if name in PEERS else {"framework": w.framework_of(name)}


def measure(benchmark, name, workload, n, phase, problem, rounds):
    """Time one phase of one row on one problem: transfer (prepare), or a run on data prepared beforehand."""
    benchmark.group = f"{workload}, N={n}" if n > 1 else workload
    info = dict(implementation=name, workload=workload, n=n, phase=phase, updates=problem.updates, peer=name in PEERS)
    info["epochs"] = getattr(problem, "epochs", None)
    info |= dict(device=w.device_of(name), device_name=w.DEVICE_NAME, tf32_settings=TF32) | about(name)
    benchmark.extra_info.update(info, version=VERSIONS[name])
    if phase == "transfer":
        if name in bridge.REGISTRY and bridge.REGISTRY[name].runner == bridge.rows.KERAS_WORKER:
            pytest.skip("a Keras row's data travels to its worker process with every run")
        benchmark.pedantic(lambda: w.synchronize(prepare(name, problem)), rounds=rounds, warmup_rounds=1)
        return
    data = prepare(name, problem)
    w.synchronize(data)
    start = time.perf_counter()
    trajectory = run(name, problem, data)  # the first call of this shape: compiles, if anything does
    benchmark.extra_info["first_call_s"] = time.perf_counter() - start
    if phase != "many":  # checked where it is cheapest; the long run is the same loop
        if getattr(problem, "layers_every", 1) == 1:
            benchmark.extra_info["verdict"] = verdict(name, problem, trajectory)
        else:  # records per epoch
            benchmark.extra_info["verdict"] = w.learned(problem, problem.final(trajectory.parameters))
    benchmark.pedantic(run, args=(name, problem, data), rounds=rounds, warmup_rounds=0)


@pytest.mark.parametrize("name", w.ROWS)
def test_lesson(benchmark, name):
    measure(benchmark, name, "lesson: 20 steps", 1, "run", bridge.PRESETS["lesson"], rounds=20)


@pytest.mark.parametrize("phase", ["transfer", "few", "many"])
@pytest.mark.parametrize("n", w.STEP_SIZES)
@pytest.mark.parametrize("name", w.ROWS)
def test_full_batch_step(benchmark, name, n, phase):
    if name == "python_autograd" and n > w.TOO_SLOW:
        pytest.skip(f"python_autograd takes seconds a step beyond N={w.TOO_SLOW}")
    epochs = {"transfer": 0, "few": 1, "many": 1 + w.extra_steps(name)}[phase]
    slow = name in w.PYTHON_LOOPS and n >= 10**5
    measure(benchmark, name, "full-batch step", n, phase, w.full_batch(n, epochs), rounds=3 if slow else 5)


@pytest.mark.parametrize("phase", ["transfer", "few", "many"])
@pytest.mark.parametrize("name", w.ROWS)
def test_mini_batch_epoch(benchmark, name, phase):
    if name == "python_autograd" and w.EPOCH_SIZE > w.TOO_SLOW:
        pytest.skip(f"python_autograd takes seconds an epoch beyond N={w.TOO_SLOW}")
    epochs = {"transfer": 0, "few": 1, "many": 3}[phase]
    workload = f"mini-batch epoch, batch {w.EPOCH_BATCH}"
    measure(benchmark, name, workload, w.EPOCH_SIZE, phase, w.mini_batch(w.EPOCH_SIZE, epochs), rounds=3)


@pytest.mark.parametrize("n", sorted({*w.STEP_SIZES, w.EPOCH_SIZE}))
def test_floor(benchmark, n):
    floor, times = w.Floor(n), 100
    benchmark.group = f"floor, N={n}"
    benchmark.extra_info.update(implementation="floor", workload="floor", n=n, phase="run", updates=times)
    benchmark.extra_info.update(bytes=floor.bytes, how=floor.label, device=w.DEVICE)
    benchmark.extra_info["device_name"] = w.DEVICE_NAME
    floor.run(1)  # warm-up: any compilation, and the caches
    benchmark.pedantic(floor.run, args=(times,), rounds=5, warmup_rounds=0)


CLASSIFIER_WORKLOADS = {"digits": w.digits, "synthetic MNIST": w.mnist_sized}


@pytest.mark.parametrize("phase", ["transfer", "few", "many"])
@pytest.mark.parametrize("workload", list(CLASSIFIER_WORKLOADS))
@pytest.mark.parametrize("name", w.CLASSIFYING)
def test_classifier_epoch(benchmark, name, workload, phase):
    problem = CLASSIFIER_WORKLOADS[workload]({"transfer": 0, "few": 1, "many": 3}[phase])  # 2 epochs apart
    if not w.classifier_runs_here(name, problem):
        pytest.skip(f"{name} loops over every pixel in Python: minutes an epoch at this size")
    benchmark.extra_info["floor"] = "matmul"
    label = f"classifier epoch, {workload} ({problem.inputs} -> {problem.hidden} -> 10, batch {problem.batch_size})"
    measure(benchmark, name, label, len(problem.x), phase, problem, rounds=3)


@pytest.mark.parametrize("workload", list(CLASSIFIER_WORKLOADS))
def test_classifier_floor(benchmark, workload):
    problem = CLASSIFIER_WORKLOADS[workload](1)
    floor = w.MatmulFloor(problem)
    benchmark.group = f"matmul floor, {workload}"
    info = dict(implementation="floor", workload="floor", floor="matmul", n=len(problem.x), phase="run", updates=1)
    benchmark.extra_info.update(info, flops=floor.flops, how=floor.label, device=w.DEVICE, device_name=w.DEVICE_NAME)
    floor.epoch()  # warm-up: the caches, and the matmul library's threads
    benchmark.pedantic(floor.epoch, rounds=5, warmup_rounds=0)
