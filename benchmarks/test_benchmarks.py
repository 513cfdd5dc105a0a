"""Every implementation x workload, timed by pytest-benchmark; correctness recorded beside time.

Step time is measured by difference, so that data transfer and compilation
stay out of it: a run with k updates minus a run with none, divided by k.
The first call of each shape is timed apart (it includes any compilation).
The clock stops only when the trajectory is on the host, which synchronises
any GPU.
"""

import time

import pytest

import bridge
from benchmarks import workloads as w
from bridge.compare import compare

IMPLEMENTATIONS = [n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].installed()]
TF32 = w.tf32_off()  # this process times only; the settings are recorded with every result
SLOW = {"python", "python_autograd"}  # a Python loop over every sample: rounds kept few at N = 10^6


def _device(name):
    return bridge.REGISTRY[name].device_for(w.DEVICE)


def _measure(benchmark, name, problem, reference, rounds):
    """Time train(name, problem); record the first call and the verdict against the reference."""
    start = time.perf_counter()
    trajectory = bridge.train(name, problem, _device(name))  # the first call: compiles, if anything does
    benchmark.extra_info["first_call_s"] = time.perf_counter() - start
    if reference is not None:
        verdict = compare(problem, reference, trajectory)
        benchmark.extra_info["verdict"] = verdict.summary()
        assert verdict.conforms, verdict.summary()
    benchmark.extra_info.update(implementation=name, device=_device(name), tf32_settings=TF32)
    benchmark.pedantic(bridge.train, args=(name, problem, _device(name)), rounds=rounds, warmup_rounds=0)


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_lesson(benchmark, name):
    benchmark.group = "lesson: 20 steps"
    problem = bridge.PRESETS["lesson"]
    _measure(benchmark, name, problem, bridge.train("python", problem), rounds=20)


@pytest.mark.parametrize("epochs", [0, w.REPEATED_STEPS], ids=["transfer", "steps"])
@pytest.mark.parametrize("n", w.STEP_SIZES)
@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_full_batch_step(benchmark, name, n, epochs):
    benchmark.group = f"full-batch step, N={n}"
    problem = w.full_batch(n, epochs)
    reference = bridge.train("python", problem) if epochs and n <= 10**4 else None  # checked where cheap
    slow = name in SLOW and n >= 10**5
    _measure(benchmark, name, problem, reference, rounds=1 if slow else 3 if n >= 10**5 else 10)
    benchmark.extra_info.update(workload="full_batch_step", n=n, epochs=epochs)


@pytest.mark.parametrize("epochs", [0, 1], ids=["transfer", "epoch"])
@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_mini_batch_epoch(benchmark, name, epochs):
    benchmark.group = f"mini-batch epoch, N={w.EPOCH_SIZE}, batch {w.EPOCH_BATCH}"
    problem = w.mini_batch(w.EPOCH_SIZE, epochs)
    _measure(benchmark, name, problem, None, rounds=1 if name in SLOW and not w.QUICK else 3)
    benchmark.extra_info.update(workload="mini_batch_epoch", n=w.EPOCH_SIZE, epochs=epochs)


@pytest.mark.parametrize("n", sorted({*w.STEP_SIZES, w.EPOCH_SIZE}))
def test_floor(benchmark, n):
    benchmark.group = f"floor, N={n}"
    x, y = w.data(n)
    benchmark.extra_info.update(implementation="floor", workload="floor", n=n)
    benchmark(w.floor, x, y)
