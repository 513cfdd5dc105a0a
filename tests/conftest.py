"""Shared fixtures and the two named checks: exact (bitwise) and bounded."""

import os

import pytest
from hypothesis import HealthCheck, settings

import bridge
from bridge.compare import compare, expected_departure

# As bridge.registry does when it loads tf_tape; set here too for tests that import TF directly.
for _name, _value in bridge.registry.TENSORFLOW_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

# CI replays the same examples every run; locally Hypothesis explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("stress", parent=settings.get_profile("dev"), max_examples=3000)  # hunting edge cases
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def impl_params(names=bridge.IMPLEMENTATIONS):
    """One pytest param per implementation, skipped (with the install hint) when absent."""
    params = []
    for name in names:
        impl = bridge.REGISTRY[name]
        missing = not impl.installed()
        params.append(pytest.param(name, id=name, marks=pytest.mark.skipif(missing, reason=f"{impl.install_hint()}")))
    return params


# Keras on JAX and torch computes a float64 problem in float32 (bridge.compare.NARROWED, tests/test_keras.py):
# facts that hold to float64's precision are checked on every other implementation.
FLOAT64_EXACT = tuple(n for n in bridge.IMPLEMENTATIONS if n not in bridge.compare.NARROWED)


def reproduce(name: str, problem, preset: str | None = None) -> str:
    """The command (or code) that reruns this comparison."""
    if preset is not None:
        return f"descent compare --impl {name} --problem {preset} --dtype {problem.dtype}"
    if isinstance(problem, bridge.OneWeight):
        return (
            f"descent compare --impl {name} --x {problem.x!r} --y {problem.y!r} --w0 {problem.w0!r} "
            f"--lr {problem.lr!r} --steps {problem.steps} --dtype {problem.dtype}"
        )
    return (
        f"bridge.compare.compare(p, bridge.train('python', p), bridge.train({name!r}, p)) with "
        f"p = bridge.Batched({problem.x.tolist()!r}, {problem.y.tolist()!r}, w0={problem.w0!r}, "
        f"lr={problem.lr!r}, epochs={problem.epochs}, batch_size={problem.batch_size}, dtype={problem.dtype!r}, "
        f"b0={problem.b0!r})"
    )


def check_bitwise(name: str, problem, preset: str | None = None):
    """Exact check: every loss, gradient and weight equal to the reference's, bit for bit."""
    verdict = compare(problem, bridge.train("python", problem), bridge.train(name, problem))
    assert verdict.status == "bitwise", f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_within_bound(name: str, problem, preset: str | None = None):
    """Bounded check: bitwise, or within the derived bound where a departure is documented."""
    verdict = compare(problem, bridge.train("python", problem), bridge.train(name, problem))
    assert verdict.conforms, f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_claim(name: str, problem, preset: str | None = None):
    """The check the registry claims for this implementation and loop."""
    if expected_departure(name, problem) is None:
        return check_bitwise(name, problem, preset)
    return check_within_bound(name, problem, preset)
