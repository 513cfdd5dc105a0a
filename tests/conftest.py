"""Shared fixtures, the suite's device (--device), and the two named checks: exact (bitwise) and bounded."""

import os

import pytest
from hypothesis import HealthCheck, settings

import bridge
from bridge.compare import compare, expected_departure
from bridge.devices import device_name, parse

# As bridge.registry does when it loads tf_tape; set here too for tests that import TF directly.
for _name, _value in bridge.registry.TENSORFLOW_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

# CI replays the same examples every run; locally Hypothesis explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("stress", parent=settings.get_profile("dev"), max_examples=3000)  # hunting edge cases
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The long matrices: DESCENT_STRESS=1 python -m pytest (nox -s stress) runs them as well.
STRESS = os.environ.get("DESCENT_STRESS") == "1"
stress = pytest.mark.skipif(not STRESS, reason="in the stress profile only: DESCENT_STRESS=1 (nox -s stress)")


# from --device: where the GPU-capable rows run; who cannot run there; whether the CPU-only rows are left out
SUITE = {"device": "cpu", "refused": {}, "device_rows_only": False}


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


def pytest_configure(config):
    device = config.getoption("--device")
    try:
        parse(device)
    except bridge.DeviceUnavailable as error:
        raise pytest.UsageError(str(error)) from None
    SUITE["device"], SUITE["device_rows_only"] = device, config.getoption("--device-rows-only")
    try:
        SUITE["refused"] = bridge.registry.refusals(device)
    except bridge.DeviceUnavailable as error:
        raise pytest.UsageError(f"--device {device}: {error}") from None


def pytest_report_header(config):
    device = SUITE["device"]
    if parse(device)[0] == "cpu":
        return [f"device: cpu ({device_name('cpu')}); --device cuda runs the GPU-capable rows on a GPU"]
    installed = [n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].installed()]
    there = [n for n in installed if bridge.REGISTRY[n].gpu and n not in SUITE["refused"]]
    cpu_only = [n for n in installed if not bridge.REGISTRY[n].gpu]
    versions = dict.fromkeys(bridge.REGISTRY[n].version() for n in installed)
    lines = [
        f"device: {device} ({device_name(device)}): {', '.join(there)} run there, against the CPU reference",
        f"on the CPU only, whatever --device says: {', '.join(cpu_only)}",
        f"versions: {', '.join(versions)}",
    ]
    return lines + [f"skipped, {name}: {why}" for name, why in SUITE["refused"].items()]


def device_for(name: str) -> str:
    """Where the suite runs this implementation: --device for the GPU-capable ones, else the CPU."""
    return bridge.REGISTRY[name].device_for(SUITE["device"])


def train(name: str, problem):
    """bridge.train on the suite's device for this implementation."""
    return bridge.train(name, problem, device_for(name))


PARALLEL = tuple(n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].parallel)
SINGLE_PROCESS = tuple(n for n in bridge.IMPLEMENTATIONS if n not in PARALLEL)
IN_TEST_PARALLEL = (
    "data-parallel: the batched loop only, each run in a launcher and its workers; tests/test_parallel.py checks it"
)


def impl_params(names=bridge.IMPLEMENTATIONS, parallel: bool = False):
    """One pytest param per implementation, skipped (with the reason) when absent or unable to use --device.

    The data-parallel rows are skipped, saying why, unless parallel=True: the registry-wide tests run many
    problems per row, and each of their runs starts processes.
    """
    params = []
    for name in names:
        impl = bridge.REGISTRY[name]
        reason = impl.install_hint() if not impl.installed() else SUITE["refused"].get(name)
        if impl.parallel and not parallel and reason is None:
            reason = IN_TEST_PARALLEL
        if SUITE["device_rows_only"] and not impl.gpu:
            reason = "runs on the CPU only, and --device-rows-only leaves it out"
        params.append(pytest.param(name, id=name, marks=pytest.mark.skipif(reason is not None, reason=reason or "")))
    return params


# Keras on JAX and torch computes a float64 problem in float32 (bridge.compare.NARROWED, tests/test_keras.py):
# facts that hold to float64's precision are checked on every other implementation.
FLOAT64_EXACT = tuple(n for n in SINGLE_PROCESS if n not in bridge.compare.NARROWED)


def reproduce(name: str, problem, preset: str | None = None) -> str:
    """The command (or code) that reruns this comparison."""
    device = device_for(name)
    on = "" if device == "cpu" else f" --device {device}"
    if preset is not None:
        return f"descent compare --impl {name} --problem {preset} --dtype {problem.dtype}{on}"
    if isinstance(problem, bridge.OneWeight):
        return (
            f"descent compare --impl {name} --x {problem.x!r} --y {problem.y!r} --w0 {problem.w0!r} "
            f"--lr {problem.lr!r} --steps {problem.steps} --dtype {problem.dtype}{on}"
        )
    return (
        f"bridge.compare.compare(p, bridge.train('python', p), bridge.train({name!r}, p, {device!r})) with "
        f"p = bridge.Batched({problem.x.tolist()!r}, {problem.y.tolist()!r}, w0={problem.w0!r}, "
        f"lr={problem.lr!r}, epochs={problem.epochs}, batch_size={problem.batch_size}, dtype={problem.dtype!r}, "
        f"b0={problem.b0!r})"
    )


def check_bitwise(name: str, problem, preset: str | None = None):
    """Exact check: every loss, gradient and weight equal to the reference's, bit for bit."""
    verdict = compare(problem, bridge.train("python", problem), train(name, problem))
    assert verdict.status == "bitwise", f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_within_bound(name: str, problem, preset: str | None = None):
    """Bounded check: bitwise, or within the derived bound where a departure is documented."""
    verdict = compare(problem, bridge.train("python", problem), train(name, problem))
    assert verdict.conforms, f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_claim(name: str, problem, preset: str | None = None):
    """The check the registry claims for this implementation, loop and device."""
    if expected_departure(name, problem, device_for(name)) is None:
        return check_bitwise(name, problem, preset)
    return check_within_bound(name, problem, preset)
