"""The one wire format: problems and trajectories as JSON, every number exact.

Scalars travel as float.hex(), arrays as the base64 of their little-endian
float64 bytes (exact, and compact for 10^6 samples). The Keras workers, the
launchers and torch_ddp's ranks all speak it (bridge.runners).
"""

from __future__ import annotations

import base64
import traceback

import numpy as np

from bridge.problems import Batched, Classifier, Network, OneWeight
from bridge.trajectory import LOCAL, RECORDED, Trajectory


def pack(values) -> str:
    """Floats as the base64 of their little-endian float64 bytes."""
    return base64.b64encode(np.asarray(values, dtype="<f8").tobytes()).decode("ascii")


def unpack(text: str) -> list[float]:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").tolist()


CLASSIFIER_NUMBERS = ("lr", "beta_1", "beta_2", "epsilon")
CLASSIFIER_FIELDS = ("hidden", "epochs", "batch_size", "seed", "train_size", "optimizer", "epsilon_hat", "from_logits")
CLASSIFIER_FIELDS += ("records",)


def problem_to_json(problem) -> dict:
    """Every field of the problem, floats exact; a classifier's images by where they come from (read again there)."""
    if isinstance(problem, Classifier):
        return {
            "kind": "classifier",
            "images": _images_to_json(problem.images),
            **{k: pack(getattr(problem, k)) for k in ("w1", "b1", "w2", "b2")},
            **{k: getattr(problem, k).hex() for k in CLASSIFIER_NUMBERS},
            **{k: getattr(problem, k) for k in CLASSIFIER_FIELDS},
            "dtype": problem.dtype,
        }
    if isinstance(problem, Network):
        arrays = {k: pack(getattr(problem, k)) for k in ("x", "y", "w1", "b1", "w2")}
        counts = {k: getattr(problem, k) for k in ("hidden", "epochs", "batch_size", "seed")}
        numbers = {"lr": problem.lr.hex(), "b2": problem.b2.hex()}
        return {
            "kind": "network",
            **arrays,
            **counts,
            **numbers,
            "activation": problem.activation,
            "dtype": problem.dtype,
        }
    if isinstance(problem, OneWeight):
        numbers = {k: float(getattr(problem, k)).hex() for k in ("x", "y", "w0", "lr")}
        return {"kind": "one_weight", **numbers, "steps": problem.steps, "dtype": problem.dtype}
    return {
        "kind": "batched",
        "x": pack(problem.x),
        "y": pack(problem.y),
        "w0": problem.w0.hex(),
        "lr": problem.lr.hex(),
        "epochs": problem.epochs,
        "batch_size": problem.batch_size,
        "dtype": problem.dtype,
        "b0": None if problem.b0 is None else problem.b0.hex(),
    }


def _images_to_json(images) -> dict:
    """Where the images come from (read again on the other side: MNIST's are 376 MB as float64), or, for images
    given in memory, the images themselves."""
    if images.source is not None:
        return {"source": images.source}
    parts = {k: pack(getattr(images, k)) for k in ("x_train", "y_train", "x_test", "y_test")}
    return {"name": images.name, "inputs": images.x_train.shape[1], **parts}


def _images_from_json(data: dict):
    from bridge.images import Images, load

    if "source" in data:
        return load(data["source"])
    x_train, x_test = (np.asarray(unpack(data[k])).reshape(-1, data["inputs"]) for k in ("x_train", "x_test"))
    y_train, y_test = (np.asarray(unpack(data[k]), dtype=np.int64) for k in ("y_train", "y_test"))
    return Images(data["name"], x_train, y_train, x_test, y_test)


def problem_from_json(data: dict):
    if data["kind"] == "classifier":
        images = _images_from_json(data["images"])
        arrays = {k: unpack(data[k]) for k in ("w1", "b1", "w2", "b2")}
        numbers = {k: float.fromhex(data[k]) for k in CLASSIFIER_NUMBERS}
        fields = {k: data[k] for k in CLASSIFIER_FIELDS}
        return Classifier(images, **arrays, **numbers, **fields, dtype=data["dtype"])
    if data["kind"] == "network":
        arrays = {k: unpack(data[k]) for k in ("x", "y", "w1", "b1", "w2")}
        counts = {k: data[k] for k in ("hidden", "epochs", "batch_size", "seed")}
        numbers = {k: float.fromhex(data[k]) for k in ("lr", "b2")}
        return Network(**arrays, **counts, **numbers, activation=data["activation"], dtype=data["dtype"])
    if data["kind"] == "one_weight":
        x, y, w0, lr = (float.fromhex(data[k]) for k in ("x", "y", "w0", "lr"))
        return OneWeight(x, y, w0, lr, data["steps"], data["dtype"])
    b0 = None if data["b0"] is None else float.fromhex(data["b0"])
    w0, lr = float.fromhex(data["w0"]), float.fromhex(data["lr"])
    return Batched(unpack(data["x"]), unpack(data["y"]), w0, lr, data["epochs"], data["batch_size"], data["dtype"], b0)


def trajectory_to_json(trajectory: Trajectory, problem) -> dict:
    """Every recorded number: a network's as flat rows (Trajectory.network_rows); a data-parallel run's workers too."""
    if isinstance(problem, (Network, Classifier)):
        layers = {"network": pack(trajectory.network_rows()), "sizes": problem.sizes}
        if trajectory.layers_every > 1:  # the rows are every layers_every-th update's: every loss apart
            layers |= {"losses": pack(trajectory.losses), "layers_every": trajectory.layers_every}
        return layers | {"evaluation": trajectory.evaluation}
    table = {k: pack(getattr(trajectory, k)) for k in RECORDED}
    if trajectory.world:  # a data-parallel run: what its workers reported, and their own gradients, row by row
        flat = {k: pack([v for row in getattr(trajectory, k) for v in row]) for k in LOCAL}
        table |= flat | {"world": trajectory.world}
    return table


def trajectory_from_json(data: dict, workers: int = 0) -> Trajectory:
    """The trajectory trajectory_to_json wrote; a data-parallel run's with its workers' rows of `workers` each."""
    if "network" in data:
        losses = unpack(data["losses"]) if "losses" in data else None
        trajectory = Trajectory.of_network(data["sizes"], unpack(data["network"]), losses, data.get("layers_every", 1))
        trajectory.evaluation = data.get("evaluation", {})
        return trajectory
    trajectory = Trajectory(*(unpack(data[k]) for k in RECORDED))
    if "world" in data:
        n = trajectory.workers = workers
        for key in LOCAL:
            values = unpack(data[key])
            setattr(trajectory, key, [values[i : i + n] for i in range(0, len(values), n)])
        trajectory.world = data["world"]
    return trajectory


def error_to_json(error: Exception) -> dict:
    """An exception sent back whole: the receiving side raises it with this message (runners.raise_if_error),
    and keeps the traceback (its own, or the one it carries from a process further away) for --debug."""
    where = getattr(error, "detail", "") or "".join(traceback.format_exception(error))
    return {"error": type(error).__name__, "message": str(error), "traceback": where}
