"""descent-bridge: one gradient-descent loop, six frameworks, one trajectory.

import bridge
p = bridge.PRESETS["lesson"]
t = bridge.train("torch_autograd", p)   # t.weights, t.losses, t.grads
"""

from bridge.errors import BridgeError, DeviceUnavailable, FrameworkMissing, InvalidProblem, UnknownName
from bridge.problems import PRESETS, Batched, Classifier, Network, OneWeight, preset, with_changes
from bridge.rows import IMPLEMENTATIONS, REGISTRY, Row
from bridge.training import train
from bridge.trajectory import Trajectory

__all__ = [
    "IMPLEMENTATIONS",
    "PRESETS",
    "REGISTRY",
    "Batched",
    "BridgeError",
    "Classifier",
    "DeviceUnavailable",
    "FrameworkMissing",
    "InvalidProblem",
    "Network",
    "OneWeight",
    "Row",
    "Trajectory",
    "UnknownName",
    "preset",
    "train",
    "with_changes",
]
