"""Whole trajectories as one device computed them, every float exact: evidence that outlives the machine.

    python -m bridge.record --device cuda --output tests/recorded/h200.json [--impl NAME ...]

The file names the device (its card, or the processor), the framework
versions and the day; then, for each implementation, preset and dtype, its
trajectory in the one wire format (bridge.wire: every float's float64 bytes);
files recorded before it held each float as float.hex(), and still read back.
tests/test_causes.py checks each file in
tests/recorded/ against the claims for its device and against the FMA
emulation, step by step, on any machine: the device need not be there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

from bridge.devices import device_name, parse
from bridge.errors import BridgeError
from bridge.problems import PRESETS, preset
from bridge.rows import IMPLEMENTATIONS, REGISTRY, get
from bridge.training import train
from bridge.trajectory import RECORDED, Trajectory
from bridge.wire import trajectory_from_json, trajectory_to_json

PRESETS_RECORDED = tuple(p for p in PRESETS if p != "explode")  # explode: 700 steps, checked live instead


def record(names, device: str, presets=PRESETS_RECORDED, dtypes=("float64", "float32")) -> dict:
    """Train each implementation on each preset and dtype on the device; the runs, in the wire format."""
    runs = []
    for name in names:
        where = get(name).device_for(device)
        for preset_name in presets:
            for dtype in dtypes:
                problem = preset(preset_name, dtype)
                trajectory = train(name, problem, where)
                run = {"implementation": name, "device": str(where), "preset": preset_name, "dtype": dtype}
                runs.append(run | {"trajectory": trajectory_to_json(trajectory, problem)})
    return {
        "device": device,
        "device_name": device_name(device),
        "versions": {name: REGISTRY[name].version() for name in names},
        "python": platform.python_version(),
        "recorded": datetime.date.today().isoformat(),
        "runs": runs,
    }


def trajectory_of(run: dict) -> Trajectory:
    """A recorded run as the Trajectory it was, exact."""
    labels = {"implementation": run["implementation"], "dtype": run["dtype"], "device": run["device"]}
    if "trajectory" in run:
        trajectory = trajectory_from_json(run["trajectory"])
        trajectory.implementation, trajectory.dtype, trajectory.device = labels.values()
        return trajectory
    if "network" in run:  # recorded before the wire format: every float in hex
        rows = [[float.fromhex(v) for v in row] for row in run["network"]]
        trajectory = Trajectory.of_network(run["sizes"], rows)
        trajectory.implementation, trajectory.dtype, trajectory.device = labels.values()
        return trajectory
    return Trajectory(**{q: [float.fromhex(v) for v in run[q]] for q in RECORDED}, **labels)


def dumps(data: dict) -> str:
    """JSON with one run per line: readable, and a new recording's diff shows which runs changed."""
    header = json.dumps({k: v for k, v in data.items() if k != "runs"}, indent=1)[:-2]
    runs = ",\n  ".join(json.dumps(run) for run in data["runs"])
    return f'{header},\n "runs": [\n  {runs}\n ]\n}}\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.record", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu[:N]")
    parser.add_argument("--output", required=True, help="the .json file to write")
    parser.add_argument("--impl", nargs="+", help="default: every installed one that runs on the device")
    args = parser.parse_args(argv)
    try:
        on_gpu = parse(args.device).kind == "gpu"
        names = args.impl or [n for n in IMPLEMENTATIONS if REGISTRY[n].installed() and (REGISTRY[n].gpu or not on_gpu)]
        data = record(names, args.device)
        Path(args.output).write_text(dumps(data))
    except (BridgeError, OSError) as error:
        print(f"python -m bridge.record: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {len(data['runs'])} runs on {data['device_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
