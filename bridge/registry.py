"""The implementations, in teaching order, loaded only when first used."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass

from bridge import budget, keras_process, parallel
from bridge.devices import check, parse
from bridge.errors import DeviceUnavailable, FrameworkMissing, InvalidProblem, UnknownName
from bridge.problems import PROBLEMS, loop_of
from bridge.trajectory import Trajectory

# Quiet TF's start-up banner. oneDNN only replaces matmul-like kernels, which no loop
# here uses (the trajectories are the same bits with it on or off).
TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


@dataclass(frozen=True)
class Implementation:
    """One row of the registry: where the loop lives and what it needs."""

    name: str
    summary: str
    framework: str = ""  # the module to import; "" for pure Python
    distributions: tuple[str, ...] = ()  # where its version comes from, first installed wins
    extra: str = ""  # pip install 'descent-bridge[extra]'
    gpu: bool = False  # whether --device cuda/gpu means anything to it
    compiled: bool = False  # a compiler sees more than one operation at a time
    backend: str = ""  # Keras rows: the backend, which runs in a process of its own (bridge.keras_process)
    parallel: bool = False  # data-parallel: runs the batched loop over workers, in a launcher (bridge.parallel)
    uses: tuple[str, ...] = ()  # modules it imports beyond its framework (keras_data_parallel: jax)
    single: str = ""  # a data-parallel row: the single-process row whose loop it splits (descent show)
    worker_loop: str = "batched"  # the function holding the loop each worker runs (descent show)

    @property
    def loops(self) -> tuple[str, ...]:
        """The loops it runs: a data-parallel row splits batches, so only the batched loop."""
        return ("batched",) if self.parallel else ("one_weight", "batched", "network")

    def applies(self, problem) -> bool:
        """Whether it has a loop for the problem."""
        return loop_of(problem) in self.loops

    def check_loop(self, problem) -> None:
        """Raise InvalidProblem, in one line, where this row has no loop for the problem."""
        if not self.applies(problem):
            kind = loop_of(problem).replace("_", "-")
            raise InvalidProblem(f"{self.name} runs the batched loop only (data-parallel); this is a {kind} problem")

    @property
    def module(self) -> str:
        return "impl.keras" if self.backend else f"impl.{self.name}"

    @property
    def requires(self) -> tuple[str, ...]:
        """The modules it imports: its framework, and a Keras row's backend."""
        return tuple(m for m in (self.framework, self.backend, *self.uses) if m)

    def installed(self) -> bool:
        """Whether the framework (and backend) can be imported, found without importing them."""
        return all(_importable(module) for module in self.requires)

    def version(self) -> str:
        """Framework name and version, read from package metadata (no import)."""
        for dist in self.distributions:
            try:
                found = f"{dist.removesuffix('-cpu')} {importlib.metadata.version(dist)}"
                return f"{found}/{self.backend}" if self.backend else found
            except importlib.metadata.PackageNotFoundError:
                continue
        return "" if self.framework else f"Python {platform.python_version()}"

    def device_for(self, device: str) -> str:
        """The device this implementation runs on when a run asks for `device`: CPU-only ones stay on the CPU."""
        return device if self.gpu else "cpu"

    def install_hint(self) -> str:
        return f"pip install 'descent-bridge[{self.extra}]'"

    def missing(self) -> FrameworkMissing:
        """The error naming what is missing (all it requires, if each one imports on its own)."""
        absent = [m for m in self.requires if not _importable(m)] or list(self.requires)
        needs, verb = " and ".join(absent), "is" if len(absent) == 1 else "are"
        return FrameworkMissing(f"{self.name} needs {needs}, which {verb} not installed: {self.install_hint()}")

    def quiet(self) -> None:
        """Before TensorFlow is first imported: its start-up banner off (see TENSORFLOW_ENVIRONMENT)."""
        if "tensorflow" in self.requires:
            for name, value in TENSORFLOW_ENVIRONMENT.items():
                os.environ.setdefault(name, value)

    def check_device(self, device: str) -> None:
        """Raise DeviceUnavailable unless its framework (a Keras row's backend) can run on the device."""
        self.quiet()
        check(self.backend or next(iter(self.uses), self.framework), device)  # keras_data_parallel: JAX's devices

    def load(self):
        """Import the implementation module, or say which extra installs its framework."""
        self.quiet()
        try:
            if self.framework:
                importlib.import_module(self.framework)  # first, so a missing one is named as such
            return importlib.import_module(self.module)
        except ImportError as error:
            if self.framework and error.name and error.name.split(".")[0] == self.framework:
                raise self.missing() from None
            raise


_ALL = (
    Implementation("python", "the lesson's loop in plain floats; float32 emulated by rounding"),
    Implementation("numpy", "NumPy scalars and arrays", "numpy", ("numpy",)),  # a core dependency
    Implementation("torch_manual", "torch tensors, the hand-derived gradient", "torch", ("torch",), "torch", True),
    Implementation("python_autograd", "plain Python, a tiny reverse-mode autograd (micrograd's idea)"),
    Implementation("torch_autograd", "torch tensors, loss.backward()", "torch", ("torch",), "torch", True),
    Implementation(
        "tf_tape",
        "TensorFlow eager, tf.GradientTape",
        "tensorflow",
        ("tensorflow", "tensorflow-cpu"),
        "tensorflow",
        True,
    ),
    Implementation("jax_grad", "JAX, jax.value_and_grad (eager)", "jax", ("jax",), "jax", True),
    Implementation(
        "tf_function",
        "TensorFlow, the step compiled: tf.function(jit_compile=True)",
        "tensorflow",
        ("tensorflow", "tensorflow-cpu"),
        "tensorflow",
        True,
        True,
    ),
    Implementation(
        "torch_compile", "torch, the step compiled: torch.compile", "torch", ("torch",), "torch", True, True
    ),
    Implementation(
        "jax_jit", "JAX, the whole loop compiled: jax.jit of a lax.scan", "jax", ("jax",), "jax", True, True
    ),
)
_KERAS = tuple(
    Implementation(
        f"keras_{backend}",
        f"Keras 3 on {label}: Sequential([Dense(1)]), SGD, loss='mse', fit()",
        "keras",
        ("keras",),
        f"keras,{extra}",
        True,
        backend != "torch",  # the JAX trainer compiles its step with XLA; TensorFlow's may (tf.function)
        backend,
    )
    for backend, label, extra in (
        ("tensorflow", "TensorFlow", "tensorflow"),
        ("jax", "JAX", "jax"),
        ("torch", "torch", "torch"),
    )
)
_PARALLEL = (
    Implementation(
        "torch_ddp",
        "torch, DistributedDataParallel over gloo (NCCL on GPUs), one process per worker",
        "torch",
        ("torch",),
        "torch",
        True,
        parallel=True,
        single="torch_autograd",
        worker_loop="worker_loop",  # batched() starts the worker processes
    ),
    Implementation(
        "jax_sharded",
        "JAX, the batch sharded over devices: jax.shard_map and psum",
        "jax",
        ("jax",),
        "jax",
        True,
        True,
        parallel=True,
        single="jax_grad",
    ),
    Implementation(
        "tf_mirrored",
        "TensorFlow, tf.distribute.MirroredStrategy over logical CPUs or GPUs",
        "tensorflow",
        ("tensorflow", "tensorflow-cpu"),
        "tensorflow",
        True,
        parallel=True,
        single="tf_tape",
    ),
    Implementation(
        "keras_data_parallel",
        "Keras 3 on JAX, keras.distribution.DataParallel, then fit()",
        "keras",
        ("keras",),
        "keras,jax",
        True,
        True,
        parallel=True,
        uses=("jax",),
        single="keras_jax",
    ),
)
REGISTRY = {impl.name: impl for impl in _ALL + _KERAS + _PARALLEL}
IMPLEMENTATIONS = tuple(REGISTRY)


def get(name: str) -> Implementation:
    """The registry row for name, or UnknownName listing the choices."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownName(f"unknown implementation {name!r}; choose one of: {', '.join(IMPLEMENTATIONS)}") from None


def refusals(device: str) -> dict[str, str]:
    """For each installed GPU-capable implementation whose framework cannot run on the device: why not.

    Raises DeviceUnavailable when none of them can: nothing would run there.
    """
    if parse(device)[0] == "cpu":
        return {}
    found = {}
    candidates = [impl for impl in REGISTRY.values() if impl.gpu and impl.installed()]
    for impl in candidates:
        try:
            impl.check_device(device)
        except DeviceUnavailable as error:
            found[impl.name] = str(error)
    if len(found) == len(candidates):
        seen = "; ".join(dict.fromkeys(found.values())) or "no implementation that runs on a GPU is installed"
        raise DeviceUnavailable(f"nothing installed here runs on {device}: {seen}")
    return found


def train(name: str, problem, device: str = "cpu", workers: int = parallel.DEFAULT_WORKERS) -> Trajectory:
    """Run one implementation on one problem and return its trajectory.

    workers: how many workers a data-parallel row splits each batch across (1 to parallel.MAX_WORKERS);
    the single-process rows have one, whatever it says.
    """
    return run(name, problem, device, prepare(name, problem, device, workers), workers)


def start(name: str, problem, device: str = "cpu", workers: int = parallel.DEFAULT_WORKERS):
    """Begin a run; return a function that waits for its trajectory.

    A Keras row's worker process starts training at once, alongside whatever
    this process does next; any other row runs when the function is called.
    """
    implementation = get(name)
    if implementation.parallel:
        prepare(name, problem, device, workers)  # every refusal now
        return lambda: run(name, problem, device, None, workers)
    if not implementation.backend:
        budget.check_run(name, problem)  # refused now; its framework is imported when the run is wanted
        return lambda: train(name, problem, device)
    prepare(name, problem, device)  # every refusal comes now, before the worker is asked
    waiting = keras_process.submit(implementation.backend, problem, device)
    return lambda: _labelled(waiting(), name, problem, device)


def _labelled(trajectory: Trajectory, name: str, problem, device: str) -> Trajectory:
    """The trajectory, marked with the row, dtype and device that produced it (compare reads them)."""
    trajectory.implementation, trajectory.dtype, trajectory.device = name, problem.dtype, str(device)
    return trajectory


def prepare(name: str, problem, device: str = "cpu", workers: int = parallel.DEFAULT_WORKERS):
    """Step 0 of a run: the problem's data on the device, as the implementation's loop reads it.

    A benchmark times this apart from run(). Keras rows have nothing to prepare
    here: the problem travels to their worker process with each run.
    """
    implementation = get(name)
    if not isinstance(problem, PROBLEMS):
        raise TypeError(f"problem must be a bridge.OneWeight, Batched or Network, got {type(problem).__name__}")
    parse(device)  # an unknown device name fails the same way for every implementation
    budget.check_run(name, problem)  # a run too long to record is refused before it starts
    implementation.check_loop(problem)
    if implementation.parallel:
        parallel.check_workers(workers)
        if parse(device)[0] != "cpu":  # refused here, in the words every row uses, before a launcher starts
            implementation.check_device(device)
    if implementation.backend or implementation.parallel:
        if not implementation.installed():
            raise implementation.missing()
        return None
    return implementation.load().prepare(problem, device)


def run(name: str, problem, device: str = "cpu", data=None, workers: int = parallel.DEFAULT_WORKERS) -> Trajectory:
    """The training loop itself, on data from prepare(name, problem, device)."""
    implementation = get(name)
    if implementation.parallel:
        trajectory = parallel.launch(name, problem, device, parallel.check_workers(workers))
    elif implementation.backend:
        trajectory = keras_process.train(implementation.backend, problem, device)
    else:
        module = implementation.load()
        trajectory = getattr(module, loop_of(problem))(problem, device, data)
    return _labelled(trajectory, name, problem, device)


def _importable(module: str) -> bool:
    if module in sys.modules:  # imported already, or blocked with None
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None
