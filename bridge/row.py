"""A row: one implementation and every fact about it, the way PyTorch's OpInfo holds an operator's.

A Row says where the loop lives and what runs it, what it needs, how it
computes (autodiff, compiled, whose tanh, whether it narrows float64), what it
claims per (loop, device kind[, workers]) and why, where that was measured,
how its workers combine, what a run stores. The entries are in bridge/rows.py.
Frameworks are never imported here: installed() finds them without importing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.budget import Cost
from bridge.causes import Combine, Departure
from bridge.devices import CPU, Device, parse
from bridge.environment import quiet
from bridge.errors import FrameworkMissing, InvalidProblem
from bridge.parallel import Pace
from bridge.problems import loop_of

IN_PROCESS, KERAS_WORKER, LAUNCHER = "in process", "Keras worker", "launcher"  # the kinds of runner (bridge.runners)
ALL_LOOPS = ("one_weight", "batched", "network")
WITH_CLASSIFIER = (*ALL_LOOPS, "classifier")  # the rows that train the next lesson's classifier too


@dataclass(frozen=True, kw_only=True)
class Row:
    """One implementation and every fact about it."""

    name: str
    summary: str
    module: str  # the module holding its loops
    runner: str = IN_PROCESS  # what runs it: in this process, in a Keras worker, in a launcher (data-parallel)
    framework: str = ""  # the module to import first; "" for pure Python
    requires: tuple[str, ...] = ()  # every module it imports beyond the standard library (framework first)
    distributions: tuple[str, ...] = ()  # where its version comes from, first installed wins
    extra: str = ""  # pip install 'descent-bridge[extra]'
    device_check: str = ""  # the framework whose devices it runs on; "" runs on the CPU only
    backend: str = ""  # Keras rows: the backend (shown beside Keras's version)
    reference: bool = False  # the row every other is compared with
    autodiff: bool = False  # its gradient is found by automatic differentiation, not typed by hand
    compiled: bool = False  # a compiler sees more than one operation at a time
    loops: tuple[str, ...] = ALL_LOOPS  # the loops it runs: a data-parallel row splits batches only
    tanh: str | None = None  # whose tanh it calls (bounds.TANH_ULPS); None: correctly rounded
    exp_log: str = "libm"  # whose exp and log its classifier calls (classifier_bounds.EXP_LOG_ULPS)
    adam_form: str | None = None  # its Adam: "epsilon" on sqrt(v_hat), "epsilon_hat" on sqrt(v); None: the problem's
    recovers_logits: bool = False  # a softmax output's loss taken from the logits under it: no clip (Keras on TF)
    adam_powers_from: str | None = None  # the dtype its Adam reads beta in before beta^t, where narrower than float64
    narrows: str | None = None  # why it computes a float64 problem in float32, where it does
    slow_loops: tuple[str, ...] = ()  # loops whose runs take long enough to leave the fast tier (seconds a step)
    narrows_in: tuple[str, ...] = WITH_CLASSIFIER  # the loops where it does (measured: tests/test_classifier.py)
    claims: Mapping[tuple, Departure] = field(default_factory=dict)  # (loop, kind[, workers]) -> why not bitwise
    measured: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # kind -> (where, loops)
    combine: Combine | None = None  # a data-parallel row: how its all-reduce combines the workers' gradients
    cost: Cost  # what a run stores (bridge.budget)
    pace: Pace | None = None  # a data-parallel row: how long its runs take here, to refuse one that cannot finish
    floor_target: float | None = None  # descent bench: its full-batch step at N=10^6 within this many times the floor
    environment: Mapping[str, str] = field(default_factory=dict)  # set before its framework starts (its process)
    worker_devices: str = ""  # the variable that sets the CPU devices a launcher's framework makes: the workers
    single: str = ""  # a data-parallel row: the single-process row whose loop it splits (descent show)
    worker_loop: str = "batched"  # the function holding the loop each worker runs (descent show)
    rank_loop: str = ""  # where the launcher starts one process per worker: the function each process runs

    @property
    def gpu(self) -> bool:
        """Whether --device cuda/gpu means anything to it."""
        return bool(self.device_check)

    @property
    def parallel(self) -> bool:
        return self.runner == LAUNCHER

    def applies(self, problem) -> bool:
        """Whether it has a loop for the problem."""
        return loop_of(problem) in self.loops

    def check_loop(self, problem) -> None:
        """Raise InvalidProblem, in one line, where this row has no loop for the problem."""
        if not self.applies(problem):
            kind = loop_of(problem).replace("_", "-")
            if self.loops == ("batched",):
                raise InvalidProblem(
                    f"{self.name} runs the batched loop only (data-parallel); this is a {kind} problem: "
                    "try a batched one, such as --problem mini_batch"
                )
            raise InvalidProblem(f"{self.name} has no {kind} loop; it runs: {', '.join(self.loops)}")

    def installed(self) -> bool:
        """Whether every module it needs can be imported, found without importing them."""
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

    def device_for(self, device) -> Device:
        """The device this implementation runs on when a run asks for `device`: CPU-only ones stay on the CPU.

        An unknown device name is refused here for every row, the CPU-only ones too.
        """
        device = parse(device)
        return device if self.gpu else CPU

    def install_hint(self) -> str:
        return f"pip install 'descent-bridge[{self.extra}]'"

    def missing(self) -> FrameworkMissing:
        """The error naming what is missing (all it requires, if each one imports on its own)."""
        absent = [m for m in self.requires if not _importable(m)] or list(self.requires)
        needs, verb = " and ".join(absent), "is" if len(absent) == 1 else "are"
        return FrameworkMissing(f"{self.name} needs {needs}, which {verb} not installed: {self.install_hint()}")

    def check_device(self, device: str) -> None:
        """Raise DeviceUnavailable unless its framework can run on the device."""
        from bridge.devices import check

        quiet(self.requires)
        check(self.device_check, device)

    def load(self):
        """Import the implementation module, or say which extra installs its framework."""
        quiet(self.requires)
        try:
            if self.framework:
                importlib.import_module(self.framework)  # first, so a missing one is named as such
            return importlib.import_module(self.module)
        except ImportError as error:
            if self.framework and error.name and error.name.split(".")[0] == self.framework:
                raise self.missing() from None
            raise


def _importable(module: str) -> bool:
    if module in sys.modules:  # imported already, or blocked with None
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None
