"""descent bench: run benchmarks/ with pytest-benchmark, then one table and one chart from its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from bridge.errors import BridgeError, InvalidProblem

SUITE = Path(__file__).resolve().parent.parent / "benchmarks"
COMPILED = ("jax_jit", "tf_function", "torch_compile")


def run_suite(output: Path, quick: bool, device: str) -> Path:
    """Run the pytest-benchmark suite in a fresh interpreter; return the JSON it wrote."""
    if not (SUITE / "test_benchmarks.py").exists():
        raise BridgeError(f"descent bench runs the suite in {SUITE}: use a clone of the repository")
    output.mkdir(parents=True, exist_ok=True)
    results = output / "benchmarks.json"
    env = os.environ | {"DESCENT_BENCH_QUICK": "1" if quick else "0", "DESCENT_BENCH_DEVICE": device}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={results}",
        "--benchmark-disable-gc",
    ]
    done = subprocess.run(command, env=env, cwd=SUITE.parent)
    if done.returncode != 0 or not results.exists():
        raise BridgeError(f"the benchmark suite failed (exit {done.returncode}); rerun: {' '.join(command)}")
    return results


def summarise(results: Path) -> dict:
    """Seconds per workload and implementation (fastest round), with ratios to the floor and the fastest."""
    raw = json.loads(results.read_text())
    times = defaultdict(dict)  # (workload, n) -> {implementation or "transfer:"+name: seconds}
    first_calls = defaultdict(dict)  # (workload, n) -> {implementation: seconds of its first, compiling call}
    epochs = defaultdict(dict)  # (workload, n) -> {implementation: epochs its timed run made}
    for b in raw["benchmarks"]:
        info, best = b["extra_info"], b["stats"]["min"]
        if b["group"].startswith("lesson"):
            times[("lesson: 20 steps", 1)][info["implementation"]] = best
            first_calls[("lesson: 20 steps", 1)][info["implementation"]] = info.get("first_call_s")
        elif info["workload"] == "floor":
            times[("floor", info["n"])]["floor"] = best
        else:
            key = ("full-batch step" if info["workload"] == "full_batch_step" else "mini-batch epoch", info["n"])
            label = info["implementation"] if info["epochs"] else "transfer:" + info["implementation"]
            times[key][label] = best
            if info["epochs"]:
                first_calls[key][label] = info.get("first_call_s")
                epochs[key][label] = info["epochs"]
    table = {}
    for (workload, n), found in times.items():
        if workload == "floor":
            continue
        rows = {}
        for name, seconds in found.items():
            if name.startswith("transfer:"):
                continue
            transfer = found.get("transfer:" + name, 0.0)
            if workload == "lesson: 20 steps":
                rows[name] = seconds
            else:  # one batch per epoch in the full-batch runs: per step there, per epoch in the mini-batch ones
                rows[name] = max(seconds - transfer, 0.0) / epochs[(workload, n)][name]
        floor = times.get(("floor", n), {}).get("floor")
        fastest = min(rows.values()) if rows else None
        table[f"{workload}, N={n}" if n > 1 else workload] = {
            name: {
                "seconds": s,
                "vs_floor": s / floor if floor else None,
                "vs_fastest": s / fastest if fastest else None,
                "transfer_s": found.get("transfer:" + name),  # the same run with no update: data in, setup
                "first_call_s": first_calls[(workload, n)].get(name),  # includes any compilation
            }
            for name, s in sorted(rows.items(), key=lambda kv: kv[1])
        } | ({"floor": {"seconds": floor, "vs_floor": 1.0, "vs_fastest": None}} if floor else {})
    return {
        "machine": raw.get("machine_info", {}).get("cpu", {}).get("brand_raw", ""),
        "table": table,
        "targets": targets(table),
    }


def targets(table: dict) -> list[dict]:
    """The issue's targets, each measured against the floor or the Python loop of the same run."""
    out = []
    big = next((k for k in table if k.startswith("full-batch step, N=1000000")), None)
    if big:
        for name in (*COMPILED, "numpy"):
            if name in table[big]:
                limit = 4.0 if name == "numpy" else 2.0
                ratio = table[big][name]["vs_floor"]
                out.append(
                    {
                        "target": f"{name} full-batch step at N=10^6 within {limit:g}x the floor",
                        "ratio": ratio,
                        "met": ratio is not None and ratio <= limit,
                    }
                )
    lesson = table.get("lesson: 20 steps", {})
    compiled = [n for n in COMPILED if n in lesson]
    if compiled and "python" in lesson:
        best = min(compiled, key=lambda n: lesson[n]["seconds"])
        ratio = lesson[best]["seconds"] / lesson["python"]["seconds"]
        out.append(
            {
                "target": f"lesson's 20 steps, fastest compiled ({best}) within 2x the Python loop",
                "ratio": ratio,
                "met": ratio <= 2.0,
            }
        )
    return out


def print_report(summary: dict) -> None:
    print(f"times are the fastest of each benchmark's rounds; machine: {summary['machine']}")
    print("transfer: the same run with no update; first call: the first run of that shape, with any import and compile")
    for workload, rows in summary["table"].items():
        print(f"\n{workload}")
        print(f"  {'implementation':16}{'time':>12}{'x floor':>10}{'x fastest':>11}{'transfer':>12}{'first call':>12}")
        for name, r in rows.items():
            vs_floor = f"{r['vs_floor']:.1f}" if r["vs_floor"] is not None else "-"
            vs_fast = f"{r['vs_fastest']:.1f}" if r["vs_fastest"] is not None else "-"
            transfer, first = (_seconds(r.get(k)) for k in ("transfer_s", "first_call_s"))
            print(f"  {name:16}{_seconds(r['seconds']):>12}{vs_floor:>10}{vs_fast:>11}{transfer:>12}{first:>12}")
    if summary["targets"]:
        print("\ntargets")
        for t in summary["targets"]:
            print(f"  {'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['ratio']:.2f}x")


def _seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def chart(summary: dict, path: Path) -> None:
    """Full-batch step time against N, one line per implementation, log-log, with the floor."""
    from bridge.plotting import _matplotlib

    Figure, FigureCanvasAgg = _matplotlib()
    series = defaultdict(list)
    for workload, rows in summary["table"].items():
        if workload.startswith("full-batch step"):
            n = int(workload.rsplit("=", 1)[1])
            for name, r in rows.items():
                series[name].append((n, r["seconds"]))
    if not series:
        raise InvalidProblem("no full-batch results to chart")
    figure = Figure(figsize=(12, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for k, (name, points) in enumerate(sorted(series.items())):
        points.sort()
        style = dict(color="black", linewidth=3, linestyle="--") if name == "floor" else {}
        ax.plot(*zip(*points), marker="osD^v<>ph*X"[k % 11], label=name, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N, samples in the batch", fontsize=13)
    ax.set_ylabel("seconds per full-batch step (fastest round)", fontsize=13)
    ax.set_title("How each step's cost grows with N (the floor reads x and y once)", fontsize=15)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=11, ncol=2)
    figure.savefig(path, format="png")
