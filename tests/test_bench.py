"""descent bench: every benchmark runs once at tiny sizes (so none can rot), and the report's arithmetic."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge import bench
from tests.test_teaching import png_size

ROOT = Path(__file__).resolve().parent.parent


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
    installed = {n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].installed()}
    for workload in (
        "lesson: 20 steps",
        "full-batch step, N=1000",
        "full-batch step, N=10000",
        "mini-batch epoch, N=10000",
    ):
        assert set(summary["table"][workload]) - {"floor"} == installed, workload
    raw = json.loads((tmp_path / "benchmarks.json").read_text())
    verdicts = [b["extra_info"]["verdict"] for b in raw["benchmarks"] if "verdict" in b["extra_info"]]
    assert verdicts and not any(v.startswith("MISMATCH") for v in verdicts), "correctness recorded beside time"
    assert png_size(tmp_path / "step_time.png") == (1200, 800)
    assert "x floor" in result.stdout and "targets" in result.stdout


def _benchmark(group, name, workload, n, epochs, seconds):
    info = {"implementation": name, "workload": workload, "n": n, "epochs": epochs, "first_call_s": seconds * 100}
    return {"group": group, "extra_info": info, "stats": {"min": seconds}}


def test_step_time_is_measured_by_difference_and_ratioed_to_the_floor(tmp_path):
    runs = [
        _benchmark("full-batch step, N=1000000", "numpy", "full_batch_step", 10**6, 0, 0.010),
        _benchmark("full-batch step, N=1000000", "numpy", "full_batch_step", 10**6, 5, 0.035),
        _benchmark("full-batch step, N=1000000", "jax_jit", "full_batch_step", 10**6, 0, 0.002),
        _benchmark("full-batch step, N=1000000", "jax_jit", "full_batch_step", 10**6, 5, 0.012),
        _benchmark("floor, N=1000000", "floor", "floor", 10**6, 0, 0.001),
        _benchmark("lesson: 20 steps", "python", "lesson", 1, 20, 1e-5),
        _benchmark("lesson: 20 steps", "jax_jit", "lesson", 1, 20, 3e-5),
    ]
    results = tmp_path / "b.json"
    results.write_text(json.dumps({"benchmarks": runs}))
    summary = bench.summarise(results)
    step = summary["table"]["full-batch step, N=1000000"]
    assert step["numpy"]["seconds"] == pytest.approx(0.005) and step["numpy"]["vs_floor"] == pytest.approx(5.0)
    assert step["jax_jit"]["seconds"] == pytest.approx(0.002) and step["jax_jit"]["vs_fastest"] == 1.0
    assert step["jax_jit"]["transfer_s"] == 0.002 and step["jax_jit"]["first_call_s"] == pytest.approx(1.2)
    met = {t["target"].split()[0]: t["met"] for t in summary["targets"]}
    assert met == {"jax_jit": True, "numpy": False, "lesson's": False}
