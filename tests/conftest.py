"""The suite's options (--device, --full), its tiers, and the markers each test gets from its rows' entries.

Tiers, as NumPy's and SciPy's `slow` marker and PyTorch's @slowTest:
  python -m pytest           the fast tier: every test marked neither slow nor process, and the core
  python -m pytest --full    everything but the stress profile (what .ci/run and nox -s full run)
  DESCENT_STRESS=1 ... --full  the long matrices too (nox -s stress)
A test's markers come from the rows it is parametrized with (bridge/rows.py): a row that runs in
another process (a Keras worker, a launcher) marks it `process`; one that compiles or runs in another
process marks it `slow`. A test marked `core` stays in the fast tier whatever its rows.
"""

import inspect
import os
import re

import pytest
from hypothesis import HealthCheck, settings

import bridge
from bridge.devices import device_name, parse
from bridge.environment import quiet
from bridge.rows import IN_PROCESS, REGISTRY
from bridge.training import refusals
from tests.helpers import STRESS, SUITE

# A test starts interpreters of its own where its body calls one of these (the modules' helpers that spawn)
SPAWNS = re.compile(r"\b(subprocess\.|Popen\(|pty\.|descent\(|in_keras\(|_fresh\(|measured\()")

quiet()  # as a row does before TensorFlow loads; set here too for tests that import TF directly
# The suite runs a test process per CPU (pytest-xdist), and on a GPU machine they share the GPU: JAX would
# otherwise take 75% of its memory in the first process that touches it. Where memory comes from changes no value.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# Each profile says how many examples a property test draws. CI replays the same examples every run.
common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("fast", max_examples=10, derandomize=True, **common)  # the fast tier
settings.register_profile("ci", max_examples=40, derandomize=True, **common)  # the full tier
settings.register_profile("dev", max_examples=40, **common)  # the full tier, exploring new examples
settings.register_profile("stress", max_examples=3000, **common)  # hunting edge cases


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default="cpu",
        help="run every GPU-capable implementation on this device (cpu, cuda, gpu, cuda:N) against the CPU reference",
    )
    parser.addoption(
        "--device-rows-only",
        action="store_true",
        help="skip the CPU-only implementations (python, numpy, python_autograd): for a short check of a GPU",
    )
    parser.addoption("--full", action="store_true", help="the full tier: the slow tests too (what .ci/run runs)")


def pytest_configure(config):
    full = config.getoption("--full")
    default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default if full else "fast"))
    device = config.getoption("--device")
    try:
        parse(device)
    except bridge.DeviceUnavailable as error:
        raise pytest.UsageError(str(error)) from None
    SUITE["device"], SUITE["device_rows_only"] = device, config.getoption("--device-rows-only")
    try:
        SUITE["refused"] = refusals(device)
    except bridge.DeviceUnavailable as error:
        raise pytest.UsageError(f"--device {device}: {error}") from None


def rows_of(item) -> list:
    """The rows a test is parametrized with: every parameter value that names one."""
    values = getattr(getattr(item, "callspec", None), "params", {}).values()
    return [REGISTRY[v] for v in values if isinstance(v, str) and v in REGISTRY]


def spawns(function) -> bool:
    """Whether a test's body starts interpreters of its own."""
    try:
        return bool(SPAWNS.search(inspect.getsource(function)))
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    """Mark each test from its rows' entries; in the fast tier, leave the slow ones out (deselected, and counted)."""
    for item in items:
        if spawns(getattr(item, "function", None)):
            item.add_marker(pytest.mark.process)
        if item.get_closest_marker("stress") and not STRESS:
            item.add_marker(pytest.mark.skip(reason="in the stress profile only: DESCENT_STRESS=1 (nox -s stress)"))
        for row in rows_of(item):
            if row.runner != IN_PROCESS:
                item.add_marker(pytest.mark.process)
            if (row.compiled or row.runner != IN_PROCESS) and not item.get_closest_marker("core"):
                item.add_marker(pytest.mark.slow)
    if config.getoption("--full"):
        return

    def later(item) -> bool:  # the full tier's: slow, or starting interpreters, unless it is the fast tier's core
        if item.get_closest_marker("core"):
            return False
        return bool(item.get_closest_marker("slow") or item.get_closest_marker("process"))

    kept = [item for item in items if not later(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if later(item)])
        items[:] = kept


def pytest_report_header(config):
    tier = (
        "full (--full)" if config.getoption("--full") else "fast (python -m pytest --full runs every tier but stress)"
    )
    lines = [f"tier: {tier}; hypothesis profile: {settings._current_profile}"]
    device = SUITE["device"]
    if parse(device).on_cpu:
        return lines + [f"device: cpu ({device_name('cpu')}); --device cuda runs the GPU-capable rows on a GPU"]
    installed = [n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].installed()]
    there = [n for n in installed if bridge.REGISTRY[n].gpu and n not in SUITE["refused"]]
    cpu_only = [n for n in installed if not bridge.REGISTRY[n].gpu]
    versions = dict.fromkeys(bridge.REGISTRY[n].version() for n in installed)
    lines += [
        f"device: {device} ({device_name(device)}): {', '.join(there)} run there, against the CPU reference",
        f"on the CPU only, whatever --device says: {', '.join(cpu_only)}",
        f"versions: {', '.join(versions)}",
    ]
    return lines + [f"skipped, {name}: {why}" for name, why in SUITE["refused"].items()]
