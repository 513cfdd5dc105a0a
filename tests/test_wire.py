"""The one wire format (bridge.wire): problems and trajectories cross processes and files exactly."""

import json
import math

import numpy as np

import bridge
from bridge.record import dumps, record, trajectory_of
from bridge.wire import problem_from_json, problem_to_json, trajectory_from_json, trajectory_to_json

ODD = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308, 0.1]


def same_bits(a, b) -> bool:
    return np.array_equal(np.asarray(a, dtype="<f8").view("<i8"), np.asarray(b, dtype="<f8").view("<i8"))


def test_every_preset_crosses_exactly():
    for name in bridge.PRESETS:
        for dtype in ("float64", "float32"):
            problem = bridge.preset(name, dtype)
            back = problem_from_json(json.loads(json.dumps(problem_to_json(problem))))
            assert repr(back) == repr(problem)
            for field in ("x", "y", "w1", "b1", "w2"):
                if hasattr(problem, field) and isinstance(getattr(problem, field), np.ndarray):
                    assert getattr(back, field).tobytes() == getattr(problem, field).tobytes(), (name, field)


def test_a_trajectory_crosses_bit_for_bit_signed_zeros_inf_and_nan_included():
    problem = bridge.Batched([1.0, 2.0], [2.0, 4.0], 0.0, 0.1, 4, 1, b0=0.0)
    trajectory = bridge.Trajectory(ODD, ODD[::-1], ODD, ODD, ODD[::-1])
    back = trajectory_from_json(json.loads(json.dumps(trajectory_to_json(trajectory, problem))))
    for field in ("weights", "losses", "grads", "biases", "bias_grads"):
        assert same_bits(getattr(back, field), getattr(trajectory, field)), field


def test_a_data_parallel_trajectory_keeps_each_workers_gradient_and_the_world():
    problem = bridge.preset("mini_batch")
    trajectory = bridge.Trajectory([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    trajectory.local_grads, trajectory.world = [[1.0, -0.0, 2.0], [3.0, 4.0, math.nan]], {"engine": "gloo"}
    back = trajectory_from_json(json.loads(json.dumps(trajectory_to_json(trajectory, problem))), workers=3)
    assert back.workers == 3 and back.world == {"engine": "gloo"}
    assert same_bits(np.ravel(back.local_grads), np.ravel(trajectory.local_grads))


def test_a_network_crosses_as_its_rows():
    problem = bridge.preset("mlp", "float32")
    trajectory = bridge.train("numpy", problem)
    back = trajectory_from_json(json.loads(json.dumps(trajectory_to_json(trajectory, problem))))
    assert same_bits(back.network_rows(), trajectory.network_rows())


def test_a_recording_reads_back_as_the_run_it_was():
    data = json.loads(dumps(record(["python", "numpy"], "cpu", presets=("lesson", "bias", "mlp"), dtypes=("float32",))))
    for run in data["runs"]:
        again = bridge.train(run["implementation"], bridge.preset(run["preset"], run["dtype"]))
        recorded = trajectory_of(run)
        assert (recorded.implementation, recorded.device) == (run["implementation"], "cpu")
        if recorded.parameters:
            assert same_bits(recorded.network_rows(), again.network_rows())
        else:
            for field in ("weights", "losses", "grads", "biases", "bias_grads"):
                assert same_bits(getattr(recorded, field), getattr(again, field)), (run["preset"], field)
