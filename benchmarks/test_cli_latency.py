"""What a person at a terminal waits for: `descent compare` as a command, time to its first row and to its end.

Run: python -m pytest benchmarks/test_cli_latency.py -o addopts= --benchmark-json=latency.json
(not part of `descent bench`, which times the loops themselves). Each round
starts `descent compare` in a fresh process, as a user would, with a pipe for
stdout, and notes when the first row (the reference's) arrives and when the
command ends. user + sys CPU time of the command beside wall time says whether
it is CPU-bound. The ratio asked of issue 10: the whole lesson compare against
the six eager rows alone, measured in the same run.
"""

import os
import resource
import subprocess
import sys
import time

import pytest

EAGER = ("python", "numpy", "torch_manual", "torch_autograd", "tf_tape", "jax_grad")  # the lesson's six
COMMANDS = {"all rows": [], "six eager rows": ["--impl", *EAGER]}
ROUNDS = int(os.environ.get("DESCENT_LATENCY_ROUNDS", "3"))
MEASURED = {}


def time_command(extra: list[str]) -> dict:
    """One run of `descent compare` in a new process: seconds to the first row, to the end, and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "compare", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    first_row = None
    for line in process.stdout:
        if first_row is None and line.startswith("python "):
            first_row = time.perf_counter() - start
    assert process.wait() == 0, f"descent compare {' '.join(extra)} failed"
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"first_row_s": first_row, "total_s": total, "cpu_s": cpu, "cpu_per_wall": cpu / total}


@pytest.mark.parametrize("which", list(COMMANDS))
def test_compare_command(benchmark, which):
    """descent compare, timed end to end; the first row's arrival and the CPU time go in extra_info."""
    runs = []
    benchmark.group = "descent compare (the command)"
    benchmark.pedantic(lambda: runs.append(time_command(COMMANDS[which])), rounds=ROUNDS, warmup_rounds=0)
    best = min(runs, key=lambda r: r["total_s"])
    MEASURED[which] = best
    benchmark.extra_info.update({"rows": which, "rounds": runs, "cpus": os.cpu_count()} | best)
    share = best["first_row_s"] / best["total_s"]
    print(
        f"\n{which}: first row after {best['first_row_s']:.1f} s ({share:.0%} of the total), "
        f"end after {best['total_s']:.1f} s; CPU {best['cpu_s']:.1f} s = {best['cpu_per_wall']:.2f} x wall"
    )
    if len(MEASURED) == len(COMMANDS):
        ratio = MEASURED["all rows"]["total_s"] / MEASURED["six eager rows"]["total_s"]
        benchmark.extra_info["all_over_eager"] = ratio
        print(f"all rows / six eager rows: {ratio:.2f}x (fastest round of each)")
