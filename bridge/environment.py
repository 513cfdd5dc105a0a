"""What a process must have in its environment before a framework starts in it."""

from __future__ import annotations

import os

# Quiet TF's start-up banner. oneDNN only replaces matmul-like kernels, which no loop
# here uses (the trajectories are the same bits with it on or off).
TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


def quiet(requires=("tensorflow",)) -> None:
    """Before TensorFlow is first imported (where requires names it): its start-up banner off."""
    if "tensorflow" in requires:
        for name, value in TENSORFLOW_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
