"""The memory budget: its sizes, its refusals, and each row's stored bytes measured again (Row.cost)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge import budget
from bridge.cli import main
from tests.helpers import SINGLE_PROCESS, impl_params, stress

CLASSIFYING = [n for n in SINGLE_PROCESS if "classifier" in bridge.REGISTRY[n].loops]

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
# Peak resident memory moves in pages and allocator arenas: a measurement is good to about this much.
GRAIN = 2 * MiB

# Each row in a fresh process: warm up (imports, compilation) on a tiny problem of the same kind, reset the
# peak (Linux's /proc/PID/clear_refs, for this process and a Keras worker), run the big problem, read the peak.
MEASURE = """
import json, sys, gc
import bridge
from bridge.images import synthetic
from bridge.runners import keras_worker

def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

name, kind, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

def problem(size):
    if kind == "one_weight":
        return bridge.OneWeight(1.5, 3.0, 0.0, 0.001, size)
    if kind == "classifier":  # MNIST-shaped images, one update over all of them, the records an MNIST run keeps
        images = synthetic(size, 784)
        return bridge.Classifier(images, hidden=4, lr=0.1, epochs=1, batch_size=size, records="epoch")
    x = [((k * 7919) % 1000) / 500 - 1 for k in range(size)]
    return bridge.Batched(x, [2 * v for v in x], 0.0, 0.01, 1, size)

bridge.train(name, problem(3)); bridge.train(name, problem(5))
big = problem(size)
worker = keras_worker._workers.get(name)
pids = ["self"] + ([worker.process.pid] if worker else [])
gc.collect()
before = {}
for pid in pids:
    open(f"/proc/{pid}/clear_refs", "w").write("5")  # the peak, VmHWM, starts again from now
    before[pid] = status(pid, "VmRSS")
bridge.train(name, big)
print(json.dumps(sum(status(pid, "VmHWM") - before[pid] for pid in pids)))
"""


def measured(name: str, kind: str, size: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, name, kind, str(size)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_every_single_process_row_has_a_measured_cost():
    # The data-parallel rows' costs are estimates (their entries say so): their data and records live
    # in launcher and worker processes this measurement cannot see.
    assert {n for n, row in bridge.REGISTRY.items() if row.cost.measured_at} == set(SINGLE_PROCESS)


def cases():
    """Every row, both kinds; the slowest to measure (Cost.stress_only) in the stress profile only."""
    for param in impl_params(SINGLE_PROCESS):
        for kind in ("one_weight", "batched"):
            name = param.values[0]
            slow = kind in bridge.REGISTRY[name].cost.stress_only
            yield pytest.param(
                *param.values, kind, marks=[*param.marks, *([stress] if slow else [])], id=f"{param.id}-{kind}"
            )


@pytest.mark.slow  # each row measured in a fresh process, a second or more each
@pytest.mark.process
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/PID/clear_refs")
@pytest.mark.parametrize(("name", "kind"), list(cases()))
def test_the_estimate_covers_what_a_run_stores_and_is_not_loose(name, kind):
    size = bridge.REGISTRY[name].cost.measured_at[kind == "batched"]
    problem = bridge.OneWeight(1.5, 3.0, 0.0, 0.001, size) if kind == "one_weight" else None
    if problem is None:
        problem = bridge.Batched([0.5] * size, [1.0] * size, 0.0, 0.01, 1, size)
    _covers(name, kind, size, problem)


def _covers(name, kind, size, problem):
    estimate, found = budget.stored(bridge.REGISTRY[name].cost, problem), measured(name, kind, size)
    what = f"{name}, {kind} of size {size}: estimated {estimate / MiB:.1f} MiB, measured {found / MiB:.1f} MiB"
    assert found <= estimate + GRAIN, f"{what}: the budget undercounts (the row's cost)"
    assert estimate <= 3 * found + GRAIN, f"{what}: the estimate is loose (the row's cost)"


@stress  # each row a fresh process that draws 30,000 synthetic images; the Keras rows read them again
@pytest.mark.process
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/PID/clear_refs")
@pytest.mark.parametrize("name", impl_params(CLASSIFYING))
def test_a_classifiers_estimate_covers_its_images_and_records_and_is_not_loose(name):
    from bridge.images import synthetic

    size = bridge.REGISTRY[name].cost.measured_at[2]  # training images of 784 pixels, and 10,000 to test
    problem = bridge.Classifier(synthetic(size, 784), hidden=4, lr=0.1, epochs=1, batch_size=size, records="epoch")
    _covers(name, "classifier", size, problem)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MB", 512 * 10**6), ("2GiB", 2 * 2**30), ("1e9", 10**9), ("1_000", 1000), (" 3 kib ", 3072), ("1", 1)],
)
def test_sizes_read_as_a_person_writes_them(text, size):
    assert budget.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "abc", "1e30", "2 parsecs", "nan", "inf", "1e"])
def test_a_size_that_is_not_one_is_refused_in_one_line(text):
    with pytest.raises(bridge.InvalidProblem, match="--memory-budget must be"):
        budget.parse_size(text)


def test_the_option_raises_the_budget_and_the_environment_variable_too(monkeypatch, capsys):
    long = ["run", "--impl", "python", "--steps", "20000000"]  # 2 x 10^7 updates: about 2.7 GiB of records
    assert main(long) == 2
    assert "over the memory budget of 2.0 GiB" in capsys.readouterr().err
    assert main([*long, "--memory-budget", "100MB"]) == 2
    assert "over the memory budget of 95.4 MiB" in capsys.readouterr().err
    monkeypatch.setenv(budget.ENVIRONMENT, "10")
    assert main(["run", "--impl", "python", "--steps", "3"]) == 2
    assert f"raise the budget with --memory-budget SIZE or {budget.ENVIRONMENT}=SIZE" in capsys.readouterr().err
    assert main(["run", "--impl", "python", "--steps", "3", "--memory-budget", "1MB"]) == 0  # the option wins


def test_a_refused_run_never_starts(monkeypatch):
    started = []
    monkeypatch.setattr("impl.python.prepare", lambda *a: started.append(a))
    with pytest.raises(budget.OverBudget):
        bridge.train("python", bridge.OneWeight(1.5, 3.0, 0.0, 0.1, 10**20))
    assert started == []


@pytest.mark.parametrize("name", impl_params(["keras_jax"]))
def test_compare_counts_the_keras_rows_that_run_at_once(name, capsys):
    problem = bridge.OneWeight(1.5, 3.0, 0.0, 0.1, 500_000)
    rows = ["python", "numpy", name, "keras_torch"]  # keras_torch need not be installed: the check comes first
    held = {n: budget.stored(bridge.REGISTRY[n].cost, problem) for n in rows}
    limit = sum(held.values()) - 1  # one byte short of what the comparison holds at once
    assert main(["compare", "--steps", "500000", "--memory-budget", str(limit), "--impl", *rows]) == 2
    assert "4 rows held at once" in capsys.readouterr().err, "the Keras rows were not all counted"
