"""descent bench: run benchmarks/ with pytest-benchmark on one device, then one table and one chart from its JSON.

A step's time is the difference between a long run and a short one on data
already on the device, divided by the updates between them. The noise of
that difference is the rounds' own spread, median - fastest, of whichever of
the two runs spreads more. A difference within its noise is reported as
"below noise", never as a number.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from bridge import budget
from bridge.errors import BridgeError, InvalidProblem

SUITE = Path(__file__).resolve().parent.parent / "benchmarks"


def _pytest(files: list[str], results: Path, env: dict) -> subprocess.CompletedProcess:
    # -o addopts=: not the test suite's options (a process per CPU, pytest-xdist): every benchmark runs in one
    # process, with the machine to itself, where pytest-xdist is installed or not
    command = [sys.executable, "-m", "pytest", *files, "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
    command += [f"--benchmark-json={results}", "--benchmark-disable-gc"]
    return subprocess.run(command, env=env, cwd=SUITE.parent)


BUDGET = "16GiB"  # the largest workload, Keras at N = 10^7 on a GPU, stores about 3.2 GB (bridge.budget)


def run_suite(output: Path, quick: bool, device: str) -> Path:
    """Run the suite in fresh interpreters (Keras's peer once per backend); return the merged JSON."""
    from bridge.rows import REGISTRY

    if not (SUITE / "test_benchmarks.py").exists():
        raise BridgeError(f"descent bench runs the suite in {SUITE}: use a clone of the repository")
    output.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"DESCENT_BENCH_QUICK": "1" if quick else "0", "DESCENT_BENCH_DEVICE": str(device)}
    env.setdefault(budget.ENVIRONMENT, BUDGET)  # the workloads are fixed and sized on purpose (up to 10^7 on a GPU)
    parts = [output / "benchmarks-main.json"]
    done = _pytest([str(SUITE / "test_benchmarks.py")], parts[0], env)
    if done.returncode != 0 or not parts[0].exists():
        raise BridgeError(f"the benchmark suite failed (exit {done.returncode}); rerun: {' '.join(done.args)}")
    for backend in [row.backend for row in REGISTRY.values() if row.backend and row.installed()]:
        part = output / f"benchmarks-keras-{backend}.json"
        done = _pytest([str(SUITE / "keras_peer.py")], part, env | {"KERAS_BACKEND": backend})
        if done.returncode not in (0, 5) or not part.exists():  # 5: every test skipped (not on this device)
            raise BridgeError(f"Keras's peer on {backend} failed (exit {done.returncode}): {' '.join(done.args)}")
        parts.append(part)
    merged = json.loads(parts[0].read_text())
    for part in parts[1:]:
        merged["benchmarks"] += json.loads(part.read_text())["benchmarks"]
    results = output / "benchmarks.json"
    results.write_text(json.dumps(merged, indent=1))
    return results


def _spread(stats: dict) -> float:
    return stats["median"] - stats["min"]


def summarise(results: Path) -> dict:
    """Per workload and row: step (or epoch) time or "below noise", transfer, first call, verdict; the floor."""
    raw = json.loads(results.read_text())
    phases = defaultdict(dict)  # (workload, n, name) -> {phase: benchmark}
    floors, device, device_name = {}, "", ""
    for b in raw["benchmarks"]:
        if b["extra_info"].get("phase") is None:
            raise InvalidProblem(f"{results} holds a benchmark without a phase: written by an older descent bench")
        info = b["extra_info"]
        if info["workload"] == "floor":  # the floor runs on the device the whole run was for
            device, device_name = info["device"], info["device_name"]
            seconds = b["stats"]["min"] / info["updates"]  # updates: the dot products (or epochs) in one round
            floor = {"seconds": seconds, "how": info["how"]}
            if info.get("floor", "dot") == "dot":  # reads x and y once: a memory speed
                floor["gb_per_s"] = info["bytes"] / seconds / 1e9
            else:  # an epoch's matrix products: an arithmetic speed
                floor["gflop_per_s"] = info["flops"] / seconds / 1e9
            floors[(info.get("floor", "dot"), info["n"])] = floor
        else:
            phases[(info["workload"], info["n"], info["implementation"])][info["phase"]] = b
    table = defaultdict(dict)
    for (workload, n, name), found in phases.items():
        row = _row(workload, found)
        if row is not None:
            table[(workload, n)][name] = row
    out = {}
    for (workload, n), rows in table.items():
        kind = next(iter(rows.values()))["floor_kind"]
        floor = floors.get((kind, n)) if n > 1 else None
        timed = [r["seconds"] for r in rows.values() if r["seconds"] is not None]
        fastest = min(timed) if timed else None
        for r in rows.values():
            s = r["seconds"]
            r["vs_floor"] = s / floor["seconds"] if s is not None and floor else None
            r["vs_fastest"] = s / fastest if s is not None and fastest else None
        ordered = dict(sorted(rows.items(), key=lambda kv: (kv[1]["seconds"] is None, kv[1]["seconds"] or 0)))
        out[f"{workload}, N={n}" if n > 1 else workload] = {"floor": floor, "rows": ordered}
    versions = {b["extra_info"].get("version") for b in raw["benchmarks"]} - {None}
    return {
        "device": device,
        "device_name": device_name,
        "versions": sorted(versions),
        "machine": raw.get("machine_info", {}).get("cpu", {}).get("brand_raw", ""),
        "table": out,
        "targets": targets(out),
    }


def _row(workload: str, found: dict) -> dict | None:
    """One row of the table from its phases' benchmarks; None if the timed runs are missing."""
    info = next(iter(found.values()))["extra_info"]

    def first(key):
        return next((b["extra_info"][key] for b in found.values() if key in b["extra_info"]), None)

    row = {
        "peer": info.get("peer", False),
        "framework": info.get("framework"),  # a row's: torch, jax, tensorflow, keras/<backend>, numpy, python
        "stands_for": info.get("stands_for", []),  # a peer's: the frameworks it is the yardstick of
        "floor_kind": info.get("floor", "dot"),
        "version": info.get("version"),
        "transfer_s": found["transfer"]["stats"]["min"] if "transfer" in found else None,
        "verdict": first("verdict"),
        "first_call_s": first("first_call_s"),  # the first call of the short run: with any compilation
    }
    if "run" in found:  # the lesson: the whole run
        return row | {"seconds": found["run"]["stats"]["min"], "noise_s": _spread(found["run"]["stats"])}
    if not ("few" in found and "many" in found):
        return None
    few, many = found["few"], found["many"]
    difference = many["stats"]["min"] - few["stats"]["min"]
    noise = max(_spread(many["stats"]), _spread(few["stats"]))
    units = many["extra_info"]["epochs"] - few["extra_info"]["epochs"]  # a full-batch epoch is one step
    seconds = difference / units if difference > noise else None
    return row | {"seconds": seconds, "noise_s": noise / units, "below_noise": seconds is None}


def targets(table: dict) -> list[dict]:
    """The earlier issue's targets, each measured against the floor or the Python loop of the same run."""
    from bridge.rows import IN_PROCESS, REGISTRY, reference_row

    out = []
    big = table.get("full-batch step, N=1000000", {}).get("rows", {})
    aims = {row.name: row.floor_target for row in REGISTRY.values() if row.floor_target}
    for name, limit in sorted(aims.items(), key=lambda item: (item[1], item[0])):
        if name in big:
            ratio = big[name]["vs_floor"]
            target = f"{name} full-batch step at N=10^6 within {limit:g}x the floor"
            out.append({"target": target, "ratio": ratio, "met": ratio is not None and ratio <= limit})
    out += _classifier_targets(table)
    lesson = table.get("lesson: 20 steps", {}).get("rows", {})
    compiled = [r.name for r in REGISTRY.values() if r.compiled and r.runner == IN_PROCESS and r.name in lesson]
    python = reference_row().name
    if compiled and python in lesson:
        best = min(compiled, key=lambda n: lesson[n]["seconds"])
        ratio = lesson[best]["seconds"] / lesson[python]["seconds"]
        target = f"lesson's 20 steps, fastest compiled ({best}) within 2x the Python loop"
        out.append({"target": target, "ratio": ratio, "met": ratio <= 2.0})
    return out


PEER_TARGET, FLOOR_TARGET = 1.5, 3.0  # issue 21: each framework's fastest row against its peer, and the floor


def _classifier_targets(table: dict) -> list[dict]:
    """On the MNIST-sized classifier: each framework's fastest row within 1.5x its peer and 3x the matmul floor."""
    out = []
    for workload, part in table.items():
        if not workload.startswith("classifier epoch, synthetic MNIST"):
            continue
        timed = {name: r for name, r in part["rows"].items() if r["seconds"] is not None}
        frameworks = sorted({r["framework"] for r in timed.values() if r["framework"]})
        for framework in frameworks:
            mine = {n: r for n, r in timed.items() if r["framework"] == framework}
            fastest = min(mine, key=lambda n: mine[n]["seconds"])
            seconds = mine[fastest]["seconds"]
            for peer, r in timed.items():
                if framework in r["stands_for"]:
                    ratio = seconds / r["seconds"]
                    target = f"classifier epoch (MNIST-sized), {framework}'s fastest ({fastest}) within 1.5x {peer}"
                    out.append({"target": target, "ratio": ratio, "met": ratio <= PEER_TARGET})
            if part["floor"]:
                ratio = seconds / part["floor"]["seconds"]
                target = f"classifier epoch (MNIST-sized), {framework}'s fastest ({fastest}) within 3x the matmul floor"
                out.append({"target": target, "ratio": ratio, "met": ratio <= FLOOR_TARGET})
    return out


def print_report(summary: dict) -> None:
    print(f"device: {summary['device']} ({summary['device_name']}); times are each benchmark's fastest round")
    print(f"versions: {'; '.join(summary.get('versions', []))}")
    print("step: (long run - short run) / updates between, data already on the device; 'below noise' where that")
    print("difference is within the rounds' spread. transfer: the data onto the device. first call: with compilation")
    for workload, part in summary["table"].items():
        floor = part["floor"]
        print(f"\n{workload}")
        if floor and "gb_per_s" in floor:
            rate = f"{floor['gb_per_s']:.1f} GB/s"
            print(f"  floor ({floor['how']} of x and y on {summary['device']}): {_seconds(floor['seconds'])}, {rate}")
        elif floor:
            rate = f"{floor['gflop_per_s']:.1f} GFLOP/s"
            alone = f"the epoch's five matrix products alone, {floor['how']}"
            print(f"  floor ({alone}): {_seconds(floor['seconds'])}, {rate}")
        unit = "run" if workload.startswith("lesson") else "epoch" if "epoch" in workload else "step"
        print(
            f"  {'implementation':28}{unit:>12}{'x floor':>9}{'x fastest':>11}{'transfer':>11}{'first call':>12}"
            "  verdict"
        )
        for name, r in part["rows"].items():
            time = "below noise" if r["seconds"] is None else _seconds(r["seconds"])
            ratios = [f"{v:.1f}" if v is not None else "-" for v in (r["vs_floor"], r["vs_fastest"])]
            transfer, first = (_seconds(r[k]) for k in ("transfer_s", "first_call_s"))
            label = f"{name} (peer)" if r["peer"] else name
            verdict = (r["verdict"] or "-").split(":")[0]
            print(f"  {label:28}{time:>12}{ratios[0]:>9}{ratios[1]:>11}{transfer:>11}{first:>12}  {verdict}")
    if summary["targets"]:
        print("\ntargets")
        for t in summary["targets"]:
            measured = "below noise" if t["ratio"] is None else f"{t['ratio']:.2f}x"
            print(f"  {'met   ' if t['met'] else 'MISSED'} {t['target']}: {measured}")


def _seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def chart(summary: dict, path: Path) -> bool:
    """Full-batch step time against N, one line per row, log-log, with the floor; False where there is none."""
    from bridge.plotting import _matplotlib

    Figure, FigureCanvasAgg = _matplotlib()
    series = defaultdict(list)
    for workload, part in summary["table"].items():
        if workload.startswith("full-batch step"):
            n = int(workload.rsplit("=", 1)[1])
            for name, r in part["rows"].items():
                if r["seconds"] is not None:
                    series[f"{name} (peer)" if r["peer"] else name].append((n, r["seconds"]))
            if part["floor"]:
                series["floor"].append((n, part["floor"]["seconds"]))
    if not series:  # results of other workloads only (pytest -k classifier, say)
        return False
    figure = Figure(figsize=(12, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    colours = matplotlib_colours(len(series))
    for k, (name, points) in enumerate(sorted(series.items())):
        points.sort()
        style = dict(color=colours[k], linestyle=":" if name.endswith("(peer)") else "-")
        style |= dict(color="black", linewidth=3, linestyle="--") if name == "floor" else {}
        ax.plot(*zip(*points), marker="osD^v<>ph*X"[k % 11], label=name, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N, samples in the batch", fontsize=13)
    ax.set_ylabel("seconds per full-batch step (fastest round)", fontsize=13)
    title = f"Step time against N on {summary['device']} ({summary['device_name']}); the floor reads x and y once"
    ax.set_title(title, fontsize=13)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, format="png")
    return True


def matplotlib_colours(count: int) -> list:
    """count distinct colours: tab20's, so that no two rows share one."""
    from matplotlib import colormaps

    return [colormaps["tab20"](k % 20) for k in range(count)]
