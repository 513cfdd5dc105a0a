"""descent bench: every benchmark runs once at tiny sizes (so none can rot), and the report's arithmetic."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from benchmarks.peers import PEERS
from bridge import bench
from tests.helpers import SINGLE_PROCESS, png_size

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.stress  # 9 minutes here: every row and peer timed in a fresh pytest (nox -s benchmarks too)
def test_bench_quick_runs_every_benchmark_and_reports(tmp_path):
    pytest.importorskip("pytest_benchmark")
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "bench", "--quick", "--output-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    installed = {n for n in SINGLE_PROCESS if bridge.REGISTRY[n].installed()}  # data-parallel rows: not timed
    keras_fits = {f"keras_fit_{n.removeprefix('keras_')}" for n in installed if n.startswith("keras_")}
    peers = {n for n, p in PEERS.items() if p.installed() and "batched" in p.row.loops} | keras_fits
    for workload in ("lesson: 20 steps", "full-batch step, N=1000", "full-batch step, N=10000"):
        assert set(summary["table"][workload]["rows"]) == installed | peers, workload
    assert set(summary["table"]["mini-batch epoch, batch 1024, N=10000"]["rows"]) == installed | peers
    classifying = {n for n in installed if "classifier" in bridge.REGISTRY[n].loops} - {"python_autograd"}
    classifying |= {n for n, p in PEERS.items() if p.installed() and "classifier" in p.row.loops} | keras_fits
    digits, mnist = (w for w in summary["table"] if w.startswith("classifier epoch"))
    assert set(summary["table"][digits]["rows"]) == classifying, digits
    assert set(summary["table"][mnist]["rows"]) == classifying - {"python"}, mnist  # a Python loop per pixel
    for workload, part in summary["table"].items():
        for name, row in part["rows"].items():
            assert row["verdict"] and not row["verdict"].startswith("MISMATCH"), (workload, name)
            assert row["seconds"] is None or row["seconds"] > 0, (workload, name, "no zero or negative time")
        if workload.startswith("classifier"):  # the epoch's matrix products alone
            assert part["floor"]["gflop_per_s"] > 0, workload
        elif workload != "lesson: 20 steps":
            assert part["floor"]["gb_per_s"] > 0, workload
    assert png_size(tmp_path / "step_time.png") == (1200, 800)
    assert "x floor" in result.stdout and "GB/s" in result.stdout
    assert ("(peer)" in result.stdout) == bool(peers)


def _benchmark(name, workload, n, phase, epochs, fastest, median, **extra):
    info = {"implementation": name, "workload": workload, "n": n, "phase": phase, "epochs": epochs, "updates": epochs}
    info |= {"first_call_s": 1.0, "device": "cpu", "device_name": "test CPU", "peer": False} | extra
    return {"group": workload, "extra_info": info, "stats": {"min": fastest, "median": median}}


def _summary(tmp_path, runs):
    results = tmp_path / "b.json"
    results.write_text(json.dumps({"benchmarks": runs}))
    return bench.summarise(results)


def test_step_time_is_a_difference_of_runs_on_data_already_there(tmp_path):
    step = "full-batch step"
    runs = [
        _benchmark("numpy", step, 10**6, "transfer", 0, 0.002, 0.002),
        _benchmark("numpy", step, 10**6, "few", 1, 0.010, 0.0101, verdict="bitwise"),
        _benchmark("numpy", step, 10**6, "many", 21, 0.110, 0.1102),
        _benchmark("floor", "floor", 10**6, "run", 100, 0.1, 0.1, bytes=16 * 10**6, how="numpy.dot"),
    ]
    part = _summary(tmp_path, runs)["table"]["full-batch step, N=1000000"]
    numpy = part["rows"]["numpy"]
    assert numpy["seconds"] == pytest.approx(0.005) and numpy["vs_floor"] == pytest.approx(5.0)
    assert numpy["transfer_s"] == 0.002 and numpy["verdict"] == "bitwise" and numpy["noise_s"] == pytest.approx(1e-5)
    assert part["floor"]["seconds"] == pytest.approx(0.001) and part["floor"]["gb_per_s"] == pytest.approx(16.0)


@pytest.mark.parametrize("many", [0.0101, 0.0100, 0.0099], ids=["within the spread", "equal", "negative"])
def test_a_difference_within_the_rounds_spread_is_below_noise(tmp_path, many):
    runs = [
        _benchmark("jax_jit", "full-batch step", 1000, "few", 1, 0.0100, 0.0102),
        _benchmark("jax_jit", "full-batch step", 1000, "many", 21, many, many + 0.0002),
    ]
    row = _summary(tmp_path, runs)["table"]["full-batch step, N=1000"]["rows"]["jax_jit"]
    assert row["seconds"] is None and row["below_noise"] and row["vs_floor"] is None


def test_targets_use_the_floor_of_the_same_run(tmp_path):
    step = "full-batch step"
    runs = [_benchmark("floor", "floor", 10**6, "run", 100, 0.1, 0.1, bytes=16 * 10**6, how="numpy.dot")]
    for name, many in (("jax_jit", 0.031), ("numpy", 0.111)):
        runs.append(_benchmark(name, step, 10**6, "few", 1, 0.011, 0.011))
        runs.append(_benchmark(name, step, 10**6, "many", 21, many, many))
    runs += [_benchmark(n, "lesson: 20 steps", 1, "run", 20, s, s) for n, s in (("python", 1e-5), ("jax_jit", 3e-5))]
    met = {t["target"].split()[0]: t["met"] for t in _summary(tmp_path, runs)["targets"]}
    assert met == {"jax_jit": True, "numpy": False, "lesson's": False}


def test_classifier_targets_hold_each_frameworks_fastest_row_to_its_peer_and_the_matmul_floor(tmp_path):
    epoch = "classifier epoch, synthetic MNIST (784 -> 128 -> 10, batch 128)"
    floor = dict(floor="matmul", flops=25 * 10**9, how="torch matmul")
    runs = [_benchmark("floor", "floor", 60_000, "run", 1, 0.5, 0.5, **floor)]  # 50 GFLOP/s
    for name, framework, epoch_s in (("torch_manual", "torch", 2.0), ("torch_autograd", "torch", 1.2)):
        runs.append(_benchmark(name, epoch, 60_000, "few", 1, 3.0, 3.0, floor="matmul", framework=framework))
        runs.append(_benchmark(name, epoch, 60_000, "many", 2, 3.0 + epoch_s, 3.0 + epoch_s, floor="matmul"))
    peer = dict(floor="matmul", stands_for=["torch"], peer=True)
    runs.append(_benchmark("torch_nn", epoch, 60_000, "few", 1, 2.0, 2.0, **peer))
    runs.append(_benchmark("torch_nn", epoch, 60_000, "many", 2, 3.0, 3.0, **peer))
    summary = _summary(tmp_path, runs)
    part = summary["table"][f"{epoch}, N=60000"]
    assert part["floor"]["gflop_per_s"] == pytest.approx(50.0)
    assert part["rows"]["torch_autograd"]["vs_floor"] == pytest.approx(2.4)
    found = {t["target"]: (round(t["ratio"], 3), t["met"]) for t in summary["targets"]}
    assert found == {
        "classifier epoch (MNIST-sized), torch's fastest (torch_autograd) within 1.5x torch_nn": (1.2, True),
        "classifier epoch (MNIST-sized), torch's fastest (torch_autograd) within 3x the matmul floor": (2.4, True),
    }
