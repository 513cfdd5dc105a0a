"""A conformance suite that cannot fail proves nothing: plant bugs, watch it fail.

Each mutant is a real implementation's source with one bug planted by text
replacement, loaded as a module and checked exactly as the suite checks the
real one: every preset, both dtypes, against the python reference, until
a case rejects it. The same source loaded the same way with no bug planted
must pass that case: the failure comes from the bug, not the loading.
"""

import importlib.util
from pathlib import Path

import pytest

import bridge
from bridge.claims import reference_problem
from bridge.compare import claim_for, compare
from bridge.problems import loop_of, with_changes
from tests.helpers import KeepsReferences, impl_params

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
    # Backpropagation through the hidden layer: each trains silently to a wrong trajectory (no shape breaks)
    ("numpy", "ReLU mask missing in the backward pass"): [
        ("d_z = d_h * (z > 0) if", "d_z = d_h if"),
    ],
    ("torch_manual", "ReLU mask missing in the backward pass"): [
        ("d_z = d_h * (z > 0) if", "d_z = d_h if"),
    ],
    ("numpy", "b1's gradient summed where the mean is meant"): [
        ("d_b1 = np.mean(d_z, axis=0)", "d_b1 = np.sum(d_z, axis=0)"),
    ],
    ("torch_manual", "b1's gradient summed where the mean is meant"): [
        ("d_b1 = d_z.mean(dim=0)", "d_b1 = d_z.sum(dim=0)"),
    ],
    ("numpy", "W1's gradient from the hidden activations, not the input"): [
        ("d_w1 = xb.T @ d_z / m", "d_w1 = np.sum(h * d_z, axis=0, keepdims=True) / m"),
    ],
    ("torch_manual", "W1's gradient from the hidden activations, not the input"): [
        ("d_w1 = xb.T @ d_z / m", "d_w1 = (h * d_z).sum(dim=0, keepdim=True) / m"),
    ],
    ("numpy", "tanh's derivative as 1 - tanh(h)^2, where 1 - h^2 is meant"): [
        ("d_h * (1 - np.square(h))", "d_h * (1 - np.square(np.tanh(h)))"),
    ],
    ("torch_manual", "tanh's derivative as 1 - tanh(h)^2, where 1 - h^2 is meant"): [
        ("d_h * (1 - h**2)", "d_h * (1 - h.tanh() ** 2)"),
    ],
}
MUTANTS |= {  # the classifier (issue 21)
    ("numpy", "softmax without the max subtraction (overflow on large logits)"): [
        ("shifted = logits - logits.max(axis=1, keepdims=True)  # exp cannot overflow", "shifted = logits"),
    ],
    ("numpy", "the logits' gradient missing its 1/m"): [
        (
            "d_logits = np.where(flat[:, None], 0, (p - onehot) / m)",
            "d_logits = np.where(flat[:, None], 0, p - onehot)",
        ),
    ],
    ("torch_manual", "Adam without its bias correction"): [
        ("fix_m, fix_v = 1 - b1**t, 1 - b2**t", "fix_m, fix_v = 1, 1"),
    ],
    ("torch_autograd", "a softmax output compiled with from_logits=True"): [
        (
            "return torch.nn.functional.cross_entropy(logits, labels)",
            "return torch.nn.functional.cross_entropy(logits.softmax(dim=1), labels)",
        ),
    ],
}


def _large_logits(problem):
    """The classifier with W2 scaled 300 times: logits in the hundreds, where exp overflows without the shift."""
    return with_changes(problem, w1=problem.w1, b1=problem.b1, w2=problem.w2 * 300, b2=problem.b2)


# The presets train one sample at a time, where a sum over the batch is its mean: mini-batches catch that bug
NETWORK_BATCHES = [with_changes(bridge.PRESETS[p], batch_size=5, epochs=10) for p in ("mlp", "mlp_tanh")]


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


# The classifier on its first 256 images for one epoch (its whole presets: tests/test_classifier.py)
SMALL_CLASSIFIERS = {p: with_changes(bridge.PRESETS[p], train_size=256, epochs=1) for p in ("digits", "digits_adam")}
SMALL_CLASSIFIERS["digits with large logits"] = _large_logits(SMALL_CLASSIFIERS["digits"])
# Every preset but the classifier's in both dtypes (float64 first), the network in mini-batches, the classifier
CASES = (
    [(p, bridge.preset(p, d)) for p in bridge.PRESETS if not p.startswith("digits") for d in ("float64", "float32")]
    + [
        (f"{p.activation} in batches of 5", with_changes(p, dtype=d))
        for p in NETWORK_BATCHES
        for d in ("float64", "float32")
    ]
    + [(label, with_changes(p, dtype=d)) for label, p in SMALL_CLASSIFIERS.items() for d in ("float64", "float32")]
)


def rejection(name: str, module, label: str, problem) -> str | None:
    """Why the suite's check rejects the module's run on this case, or None where it conforms."""
    trajectory = getattr(module, loop_of(problem))(problem, "cpu")
    own = reference_problem(name, problem)  # a classifier's Adam: the reference moved as the row writes it
    verdict = compare(own, _reference(label, own.dtype, own), trajectory, claim_for(name, problem))
    return None if verdict.conforms else f"{label}/{problem.dtype}: {verdict.summary()}"


_REFERENCES = {}


def _reference(label: str, dtype: str, problem):
    """The python reference's run, once per case for all the mutants (the network's tanh is slow in decimal)."""
    if (label, dtype) not in _REFERENCES:
        _REFERENCES[label, dtype] = bridge.train("python", problem)
    return _REFERENCES[label, dtype]


HAND = ("numpy", "torch_manual")  # the fast tier plants its bugs in the hand-derived rows; --full in every row


@pytest.mark.parametrize(
    "name, bug",
    [
        pytest.param(
            name,
            bug,
            id=f"{name}: {bug}",
            marks=[*impl_params([name])[0].marks, *([] if name in HAND else [pytest.mark.slow])],
        )
        for name, bug in MUTANTS
    ],
)
def test_planted_bug_makes_the_suite_fail(name, bug):
    mutant = load_mutant(name, MUTANTS[name, bug])
    # the first case that rejects the mutant catches it: the rest would only take time
    caught = next(
        ((label, problem, why) for label, problem in CASES if (why := rejection(name, mutant, label, problem))), None
    )
    assert caught, f"planting '{bug}' in {name} went unnoticed by every preset and dtype"
    label, problem, why = caught
    if bug == "float32 leak in a float64 run":  # each preset runs float64 first; the leak is a no-op in float32
        assert problem.dtype == "float64", why
    # guards the harness itself: the same source, loaded the same way with no bug planted, passes that case
    assert rejection(name, load_mutant(name, []), label, problem) is None
