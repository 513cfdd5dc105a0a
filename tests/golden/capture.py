"""Capture (or check) what a user sees: descent's output on the lesson, mini_batch and mlp presets.

    python tests/golden/capture.py          # check: exit 1 and a diff where any output changed
    python tests/golden/capture.py --write  # write the files anew (only when a change is meant)

Each file holds one command's stdout, stderr and exit code, with framework versions masked
(they change with an install, not with the code). The list lives in COMMANDS, which
tests/test_golden.py reads too.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PRESETS = ("lesson", "mini_batch", "mlp")
COMMANDS = {
    "list": ["list"],
    **{f"run-python-{p}": ["run", "--impl", "python", "--problem", p] for p in PRESETS},
    "run-keras_torch-lesson": ["run", "--impl", "keras_torch"],
    "run-torch_ddp-mini_batch-json": ["run", "--impl", "torch_ddp", "--problem", "mini_batch", "--json"],
    **{f"compare-{p}": ["compare", "--problem", p] for p in PRESETS},
    "compare-lesson-float32-json": ["compare", "--dtype", "float32", "--json"],
    **{f"grads-{p}": ["grads", "--problem", p] for p in PRESETS},
    "show": ["show"],
    "show-batched-side-by-side": ["show", "--loop", "batched", "--impl", "python", "numpy", "--side-by-side"],
    "show-network": ["show", "--loop", "network", "--impl", "python", "torch_autograd"],
    "show-torch_ddp": ["show", "--impl", "torch_ddp"],
    "practice": ["practice"],
    "practice-json": ["practice", "--json"],
    "refused-impl": ["run", "--impl", "nope"],
    "refused-option": ["compare", "--problem", "mlp", "--steps", "3"],
}
# What changes with an install, not with the code: framework versions and the Python version; and with every
# run: a worker's process id
VERSIONS = re.compile(r"\b(Python|numpy|torch|tensorflow|jax|keras)( |\"framework\": \")(\d+\.\d+[\w.+]*)(/\w+)?")
PIDS = re.compile(r'"pid": \d+')


def masked(text: str) -> str:
    text = PIDS.sub('"pid": <pid>', text)
    return VERSIONS.sub(lambda m: f"{m.group(1)}{m.group(2)}<version>{m.group(4) or ''}", text)


def output(args: list[str]) -> str:
    env = os.environ | {"NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900
    )
    return masked(f"$ descent {' '.join(args)}\n{done.stdout}--- stderr\n{done.stderr}--- exit {done.returncode}\n")


def main(argv: list[str]) -> int:
    write, changed = "--write" in argv, 0
    wanted = [a for a in argv if not a.startswith("--")] or list(COMMANDS)
    for name in wanted:
        got, path = output(COMMANDS[name]), HERE / f"{name}.txt"
        if write:
            path.write_text(got)
            continue
        want = path.read_text()
        if got != want:
            changed += 1
            sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), got.splitlines(True), str(path), "now"))
    print(f"{len(wanted) - changed} of {len(wanted)} outputs as recorded" if not write else f"wrote {len(wanted)}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
