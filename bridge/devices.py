"""Device names (cpu, cuda, gpu) turned into each framework's own device, or a clear error.

Frameworks are imported inside the functions, so asking for a torch device
never imports TensorFlow.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
import types
from pathlib import Path
from typing import NamedTuple

from bridge.errors import DeviceUnavailable

GPU_NAMES = ("cuda", "gpu")  # torch says cuda, TensorFlow and JAX say gpu: both mean the GPU


class Device(NamedTuple):
    """A device, parsed once (as torch.device is): its kind, its index, and the name it was asked for by."""

    kind: str  # "cpu" or "gpu": what a claim is keyed by
    index: int
    name: str  # as asked for ("cuda", "gpu:1"): how it is shown

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return repr(self.name)

    @property
    def on_cpu(self) -> bool:
        return self.kind == "cpu"


CPU = Device("cpu", 0, "cpu")


def parse(device) -> Device:
    """A Device from 'cpu', 'cuda', 'gpu', 'cuda:1', 'gpu:1'; a Device is returned as it is, not parsed again."""
    if isinstance(device, Device):
        return device
    kind, _, index = str(device).strip().lower().partition(":")
    if kind in ("cpu", *GPU_NAMES) and (index == "" or index.isdigit()):
        return Device("cpu" if kind == "cpu" else "gpu", int(index or 0), str(device))
    raise DeviceUnavailable(f"unknown device {device!r}; use cpu, cuda or gpu (cuda:N for the N-th GPU)")


def require_cpu(implementation: str, device: str) -> None:
    """For the implementations that only ever run on the CPU."""
    if not parse(device).on_cpu:
        raise DeviceUnavailable(f"{implementation} runs on the CPU only; drop --device {device}")


def _absent(device: str, framework: str, found: int) -> DeviceUnavailable:
    seen = f"it sees {found} GPU(s)" if found else "it sees no GPU"
    return DeviceUnavailable(f"device {device!r} is not available to {framework}: {seen}")


def torch_device(device: str):
    """A torch.device for the name, checked against what torch can see."""
    import torch

    kind, index, _ = parse(device)
    if kind == "cpu":
        return torch.device("cpu")
    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= found:
        raise _absent(device, f"torch {torch.__version__}", found)
    return torch.device("cuda", index)


def torch_tensors(problem, device: str, *values):
    """Each value as a torch tensor of the problem's dtype on the checked device (copied: the problem's
    arrays are read-only)."""
    import torch

    dtype, device = getattr(torch, problem.dtype), torch_device(device)
    return [torch.tensor(value, dtype=dtype, device=device) for value in values]


_COMPILED = {}  # (function, device type, options) -> its compiled copy


def torch_compiled(function, device, **options):
    """torch.compile(function, fullgraph=True), with a compiled copy of its own for each device type.

    device: a name (cpu, cuda, ...) or a torch.device.

    Dynamo keeps what it learns about a function by its code: its graphs, and
    which input sizes it has seen change (automatic dynamic shapes). With one
    compiled function, sizes seen on the CPU would make the first GPU graph
    shape-generic at once, tuned for whatever size came first there
    (tests/test_causes.py shows it). A copy of the code under another name is
    a function of its own to Dynamo.
    """
    import torch

    kind = device.type if isinstance(device, torch.device) else torch_device(device).type
    key = (function, kind, tuple(sorted(options.items())))
    if key not in _COMPILED:
        code = function.__code__.replace(co_name=f"{function.__name__}_on_{kind}")
        copy = types.FunctionType(code, function.__globals__, code.co_name, function.__defaults__)
        _COMPILED[key] = torch.compile(copy, fullgraph=True, **options)
    return _COMPILED[key]


# The graphs Dynamo may compile for one step, on one device: per dtype (2), batch size 1 or more (2), a slice's
# storage offset 0, 1 or more (3), a weight that is NaN or not (2), and Inductor's reductions up to 4096 or beyond
# (2): 48. Its default limit is 8, and with fullgraph=True the ninth is an error, not a slower run.
TORCH_GRAPHS_PER_STEP = 64


def torch_recompiles(loop):
    """loop, run with Dynamo's recompile limit raised to TORCH_GRAPHS_PER_STEP for that run only."""

    @functools.wraps(loop)
    def run(*args, **kwargs):
        import torch

        with torch._dynamo.config.patch(recompile_limit=TORCH_GRAPHS_PER_STEP):
            return loop(*args, **kwargs)

    return run


def tf_device(device: str) -> str:
    """A TensorFlow device string ('/CPU:0', '/GPU:0') for the name, checked."""
    import tensorflow as tf

    kind, index, _ = parse(device)
    if kind == "cpu":
        return "/CPU:0"
    found = len(tf.config.list_physical_devices("GPU"))
    if index >= found:
        raise _absent(device, f"TensorFlow {tf.__version__}", found)
    return f"/GPU:{index}"


def jax_device(device: str):
    """A jax.Device for the name, checked."""
    import jax

    kind, index, _ = parse(device)
    if kind == "cpu":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # JAX raises when no GPU backend is installed or initialised
        gpus = []
    if index >= len(gpus):
        raise _absent(device, f"JAX {jax.__version__}", len(gpus))
    return gpus[index]


def jax_arrays(problem, device: str, *values):
    """Each value as a jax.Array of the problem's dtype, put on the checked device (float64 kept: x64 for the copy)."""
    import jax
    import numpy as np

    with jax.enable_x64(problem.dtype == "float64"):
        return [jax.device_put(np.asarray(value, problem.dtype), jax_device(device)) for value in values]


def keras_device(device: str) -> str:
    """A Keras device scope ('cpu', 'gpu:0') for the name, checked by the backend Keras runs on."""
    import keras

    kind, index, _ = parse(device)
    if kind == "cpu":
        # plain "cpu", not "cpu:0": Keras's torch backend creates each variable as
        # Parameter(...).to(device), and torch copies a CPU tensor asked to move to
        # "cpu:0", so the model would train a copy and find no gradients
        return "cpu"
    check(keras.backend.backend(), device)  # raises DeviceUnavailable, naming the backend, when it sees no such GPU
    return f"gpu:{index}"


def check(framework: str, device: str) -> None:
    """Raise DeviceUnavailable unless the framework (torch, tensorflow or jax) can run on the device."""
    {"torch": torch_device, "tensorflow": tf_device, "jax": jax_device}[framework](device)


def device_name(device: str) -> str:
    """The processor's model, or the GPU's name as torch (else JAX) reports it."""
    kind, index, _ = parse(device)
    if kind == "cpu":
        cpuinfo = Path("/proc/cpuinfo")
        lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
        models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        return models[0] if models else platform.processor() or platform.machine()
    for framework in ("torch", "jax"):
        if importlib.util.find_spec(framework) is None:
            continue
        try:
            check(framework, device)
        except DeviceUnavailable:
            continue
        if framework == "torch":
            import torch

            return torch.cuda.get_device_name(index)
        return jax_device(device).device_kind
    return f"{kind}:{index}"


def import_optax():
    """optax, the optimizers JAX users pick (the classifier's loops), or FrameworkMissing naming the extra."""
    try:
        import optax
    except ImportError:
        from bridge.errors import FrameworkMissing

        raise FrameworkMissing("the classifier in JAX needs optax: pip install 'descent-bridge[jax]'") from None
    return optax
