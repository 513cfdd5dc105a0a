"""A conformance suite that cannot fail proves nothing: plant bugs, watch it fail.

Each mutant is a real implementation's source with one bug planted by text
replacement, loaded as a module and checked exactly as the suite checks the
real one: every preset, both dtypes, against the python reference.
"""

import importlib.util
from pathlib import Path

import pytest

import bridge
from bridge.compare import compare
from tests.conftest import impl_params
from tests.test_recording import KeepsReferences

IMPL = Path(__file__).resolve().parent.parent / "impl"

# (implementation, bug) -> the replacements that plant it
MUTANTS = {
    ("numpy", "missing factor 2"): [
        ("grad = 2 * (pred - y_true) * x", "grad = (pred - y_true) * x"),
        ("grad = np.mean(2 * (pred - yb) * xb)", "grad = np.mean((pred - yb) * xb)"),
    ],
    ("numpy", "learning rate off by one part in a million"): [
        ("real(problem.lr)", "real(problem.lr * (1 + 1e-6))"),
    ],
    ("numpy", "float32 leak in a float64 run"): [
        ("weight = weight - lr * grad", "weight = weight - lr * np.float32(grad)"),
    ],
    ("numpy", "step recorded off by one"): [
        ("weight = weight - lr * grad", "weight, before = weight - lr * grad, weight"),
        ("trajectory.record(loss, grad, weight)", "trajectory.record(loss, grad, before)"),
    ],
    ("numpy", "bias gradient missing factor 2"): [
        ("bias_grad = np.mean(2 * (pred - yb))", "bias_grad = np.mean(pred - yb)"),
    ],
    ("jax_grad", "bias stepped with the weight's gradient"): [
        ("bias - lr * bias_grad", "bias - lr * grad"),
    ],
    ("torch_autograd", "bias recorded before its update"): [
        ("(bias.grad, bias.detach())", "(bias.grad, bias.detach() + lr * bias.grad)"),
    ],
    ("torch_autograd", "gradient never cleared"): [
        ("weight.grad = None", "pass"),
    ],
    ("torch_autograd", "missing factor 2"): [  # the loss loses its square: slope 1 instead of 2 (pred - y)
        ("loss = (pred - y_true) ** 2", "loss = (pred - y_true) * (pred - y_true).detach()"),
        ("loss = ((pred - yb) ** 2).mean()", "loss = ((pred - yb) * (pred - yb).detach()).mean()"),
    ],
    ("jax_grad", "learning rate off by one part in a million"): [
        ("lr = problem.lr", "lr = problem.lr * (1 + 1e-6)"),
    ],
    ("tf_tape", "float32 leak in a float64 run"): [
        ("weight.assign_sub(lr * grad)", "weight.assign_sub(tf.cast(tf.cast(lr * grad, tf.float32), weight.dtype))"),
    ],
    # the weight is a Parameter updated in place, or a tf.Variable: a reference read after the run is the last value
    ("torch_autograd", "weight read after the run, not copied at each step"): [
        ("TorchRecorder(problem, device)", "KeepsReferences(problem, device)"),
    ],
    ("tf_tape", "weight read after the run, not copied at each step"): [
        ("TFRecorder(problem)", "KeepsReferences(problem)"),
    ],
}


def load_mutant(name: str, replacements):
    """impl/<name>.py with the replacements applied, as a fresh module."""
    source = (IMPL / f"{name}.py").read_text()
    for old, new in replacements:
        assert old in source, f"mutation no longer applies to impl/{name}.py: {old!r}"
        source = source.replace(old, new)
    spec = importlib.util.spec_from_loader(f"mutant_{name}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.KeepsReferences = KeepsReferences  # the recorder a mutant may use instead of the real one
    exec(compile(source, f"<mutant of impl/{name}.py>", "exec"), module.__dict__)
    return module


def failures(name: str, module) -> list[str]:
    """Every preset and dtype on which the suite's check rejects the module's runs."""
    found = []
    for preset in bridge.PRESETS:
        for dtype in ("float64", "float32"):
            problem = bridge.preset(preset, dtype)
            loop = module.one_weight if isinstance(problem, bridge.OneWeight) else module.batched
            trajectory = loop(problem, "cpu")
            trajectory.implementation, trajectory.dtype = name, dtype  # judged under the real one's claim
            verdict = compare(problem, bridge.train("python", problem), trajectory)
            if not verdict.conforms:
                found.append(f"{preset}/{dtype}: {verdict.summary()}")
    return found


@pytest.mark.parametrize(
    "name, bug",
    [pytest.param(name, bug, id=f"{name}: {bug}", marks=impl_params([name])[0].marks) for name, bug in MUTANTS],
)
def test_planted_bug_makes_the_suite_fail(name, bug):
    found = failures(name, load_mutant(name, MUTANTS[name, bug]))
    assert found, f"planting '{bug}' in {name} went unnoticed by every preset and dtype"
    if bug == "float32 leak in a float64 run":
        assert any("float64" in f for f in found)


@pytest.mark.parametrize("name", impl_params(["numpy", "torch_autograd", "jax_grad", "tf_tape"]))
def test_unmutated_source_loaded_the_same_way_passes(name):
    # guards the harness itself: the failures above come from the bug, not the loading
    assert failures(name, load_mutant(name, [])) == []
