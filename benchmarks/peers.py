"""What a user would write instead of our loops: bench-only rows, timed beside ours and judged the same way.

The lesson's peers train the batched loop; the lesson's one weight is a batch of
one sample, once per step (the same numbers: a mean of one is the value itself).
The classifier's peers are what the next lesson's reader writes in torch and in
optax: nn.Sequential with torch.optim, a jitted optax step. Their claims live
here, in each peer's own row (a bridge.rows.Row the registry never lists),
established in tests/test_peers.py. Keras's peer (fit on a model built once)
lives in benchmarks/keras_peer.py: Keras picks its backend when it is imported.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace

import bridge
from bridge import causes
from bridge.budget import Cost
from bridge.causes import CPU
from bridge.claims import Claim, claim_for
from bridge.devices import jax_arrays, jax_device, torch_device, torch_tensors
from bridge.recording import JaxRecorder, TorchRecorder
from bridge.rows import Row

LESSON_LOOPS = ("one_weight", "batched")

# The peers' own causes, beside the core's (bridge/causes.py)
SGD_FMA = (
    "torch.optim.SGD steps with param.add_(grad, alpha=-lr), which ATen's CPU kernel computes as one fused "
    "multiply-add (one rounding, not two)"
)
TORCH_NN_ORDER = (
    "nn.MSELoss and nn.Linear's backward (a matmul) sum the batch in their own order, the gradient scaled by 2/n "
    "before the sum; the reference sums left to right"
)


@dataclass(frozen=True)
class Peer:
    """A bench-only row: its framework, what it stands for, its loop, and its facts as a row."""

    name: str
    summary: str
    requires: tuple[str, ...]
    extra: str
    row: Row  # its facts as a row of its own: above all, its claims, and the loops it trains (row.loops)
    loop: Callable  # (problem, device, data) -> Trajectory
    prepare_data: Callable  # (problem, device) -> the data on the device
    stands_for: tuple[str, ...] = ()  # the frameworks whose rows are timed against it (bench.targets)

    def claim(self, problem, device="cpu") -> Claim:
        """What it claims on this problem and device (bridge.claims, from its row)."""
        return claim_for(self.row, problem, device)

    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def version(self) -> str:
        """Each framework it needs, with its version, from package metadata."""
        return ", ".join(f"{m} {importlib.metadata.version(m)}" for m in self.requires)

    def train(self, problem, device="cpu", data=None) -> bridge.Trajectory:
        """The peer's loop on problem, labelled for compare()."""
        trajectory = self.loop(as_batched(problem), device, data)
        trajectory.implementation, trajectory.dtype, trajectory.device = self.name, problem.dtype, device
        return trajectory

    def prepare(self, problem, device="cpu"):
        return self.prepare_data(as_batched(problem), device)


def _row(name: str, module: str, claims: dict) -> Row:
    return Row(
        name=name, summary="a benchmark peer", module=module, claims=claims, cost=Cost(64, 64), loops=LESSON_LOOPS
    )


def _row_like(name: str, twin: str) -> Row:
    """A classifier peer's facts: those of the row that calls the same operations (its claim, its exp and log, its
    Adam), whose loop it is with the framework's own modules or one jit per step (tests/test_peers.py)."""
    facts = dict(name=name, summary="a benchmark peer", module="benchmarks.peers", loops=("classifier",))
    return replace(bridge.REGISTRY[twin], **facts)


def as_batched(problem):
    """The lesson's one sample as a batch of one, `steps` epochs; any other problem as it is."""
    if not isinstance(problem, bridge.OneWeight):
        return problem
    return bridge.Batched([problem.x], [problem.y], problem.w0, problem.lr, problem.steps, 1, problem.dtype)


def torch_prepare(problem, device):
    x, y = torch_tensors(problem, device, problem.x, problem.y)
    return x[:, None], y  # nn.Linear takes one row per sample


def torch_sgd(problem, device="cpu", data=None):
    """The torch tutorial's loop: zero_grad, forward, loss, backward, step."""
    import torch
    from torch import nn

    x, y_true = torch_prepare(problem, device) if data is None else data  # x: one feature per row
    dtype, where = getattr(torch, problem.dtype), torch_device(device)
    model = nn.Linear(1, 1, bias=problem.has_bias, dtype=dtype, device=where)
    with torch.no_grad():
        model.weight.fill_(problem.w0)
        if problem.has_bias:
            model.bias.fill_(problem.b0)
    optimizer, loss_fn = torch.optim.SGD(model.parameters(), lr=problem.lr), nn.MSELoss()
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch])[:, 0], y_true[batch])
            loss.backward()
            optimizer.step()
            bias = (model.bias.grad[0], model.bias.detach()[0]) if problem.has_bias else ()
            trajectory.record(loss.detach(), model.weight.grad[0, 0], model.weight.detach()[0, 0], *bias)
    return trajectory.read()


def jax_prepare(problem, device):
    return jax_arrays(problem, device, problem.x, problem.y)


def _optax_step():
    """One jitted step of what an optax user writes (built once: jax.jit traces per shape and dtype)."""
    import jax
    import jax.numpy as jnp
    import optax

    def mse(params, x, y):
        pred = params["w"] * x + params["b"] if "b" in params else params["w"] * x
        return jnp.mean((pred - y) ** 2)

    @jax.jit
    def step(params, x, y, lr):
        optimizer = optax.sgd(lr)  # stateless: its state is empty, so building it here costs nothing
        loss, grads = jax.value_and_grad(mse)(params, x, y)
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
        return optax.apply_updates(params, updates), loss, grads

    return step


_STEP = []


def optax_sgd(problem, device="cpu", data=None):
    """A jitted optax step per batch, as the optax tutorials write it."""
    import jax
    import jax.numpy as jnp

    if not _STEP:
        _STEP.append(_optax_step())
    step = _STEP[0]
    x, y_true = jax_prepare(problem, device) if data is None else data
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        params = {"w": jnp.asarray(problem.w0, problem.dtype)}
        if problem.has_bias:
            params["b"] = jnp.asarray(problem.b0, problem.dtype)
        lr = jnp.asarray(problem.lr, problem.dtype)
        trajectory = JaxRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                params, loss, grads = step(params, x[batch], y_true[batch], lr)
                bias = (grads["b"], params["b"]) if problem.has_bias else ()
                trajectory.record(loss, grads["w"], params["w"], *bias)
        return trajectory.read()


def torch_classifier_prepare(problem, device):
    """The images and their labels as tensors on the device; the labels as integers, as nn.CrossEntropyLoss takes."""
    x, y = torch_tensors(problem, device, problem.x, problem.y)
    return x, y.long()


def torch_nn(problem, device="cpu", data=None):
    """The next lesson's classifier as a torch user writes it: nn.Sequential, nn.CrossEntropyLoss, torch.optim."""
    import torch
    from torch import nn

    x, labels = torch_classifier_prepare(problem, device) if data is None else data
    dtype, where = getattr(torch, problem.dtype), torch_device(device)
    model = nn.Sequential(nn.Linear(problem.inputs, problem.hidden), nn.ReLU(), nn.Linear(problem.hidden, 10))
    model.to(dtype=dtype, device=where)
    with torch.no_grad():  # the project's start: nn.Linear keeps its weight as outputs x inputs, the transpose
        for parameter, value in zip(model.parameters(), problem.layers):
            parameter.copy_(torch.tensor(value.T if value.ndim == 2 else value, dtype=dtype))
    if problem.optimizer == "adam":
        betas = (problem.beta_1, problem.beta_2)
        optimizer = torch.optim.Adam(model.parameters(), lr=problem.lr, betas=betas, eps=problem.epsilon)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=problem.lr)
    loss_fn = nn.CrossEntropyLoss()
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            w1, b1, w2, b2 = model[0].weight, model[0].bias, model[2].weight, model[2].bias
            grads, values = (w1.grad.T, b1.grad, w2.grad.T, b2.grad), (w1.T, b1, w2.T, b2)
            trajectory.record_layers(loss.detach(), grads, [v.detach() for v in values])
    return trajectory.read()


@functools.cache  # one jitted step per optimizer (optimizer_for gives the same one for the same settings)
def _optax_classifier_step(optimizer, from_logits):
    import jax
    import optax

    from impl.jax_grad import classifier_loss

    @jax.jit
    def step(params, state, x, labels):
        loss, grads = jax.value_and_grad(classifier_loss)(params, x, labels, from_logits)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, grads

    return step


def optax_step(problem, device="cpu", data=None):
    """The next lesson's classifier as the optax tutorials write it: one jitted step per batch."""
    import jax

    from impl.jax_grad import optimizer_for

    x, y = jax_prepare(problem, device) if data is None else data
    labels = y.astype("int32")
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        optimizer = optimizer_for(problem)  # optax.adam(lr, b1, b2, eps) or optax.sgd(lr)
        step = _optax_classifier_step(optimizer, problem.from_logits)
        params = jax_arrays(problem, device, *problem.layers)
        state = optimizer.init(params)
        trajectory = JaxRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                params, state, loss, grads = step(params, state, x[batch], labels[batch])
                trajectory.record_layers(loss, grads, params)
        return trajectory.read()


PEERS = {
    peer.name: peer
    for peer in (
        Peer(
            "torch_sgd",
            "nn.Linear(1, 1) + nn.MSELoss + torch.optim.SGD",
            ("torch",),
            "torch",
            _row(
                "torch_sgd",
                "benchmarks.peers",
                {
                    ("one_weight", CPU): causes.plain(SGD_FMA),
                    ("batched", CPU): causes.plain(TORCH_NN_ORDER + "; " + SGD_FMA),
                },
            ),
            torch_sgd,
            torch_prepare,
        ),
        Peer(
            "optax_sgd",
            "jax.jit of a step with optax.sgd",
            ("jax", "optax"),
            "bench",
            _row(
                "optax_sgd",
                "benchmarks.peers",
                {
                    ("one_weight", CPU): causes.flushes("XLA", causes.FMA),
                    ("batched", CPU): causes.flushes(
                        "XLA", causes.FMA + "; jnp.mean" + causes.ORDER + causes.AUTOGRAD_MEAN
                    ),
                },
            ),
            optax_sgd,
            jax_prepare,
        ),
        Peer(
            "torch_nn",
            "nn.Sequential(Linear, ReLU, Linear) + nn.CrossEntropyLoss + torch.optim.Adam or SGD",
            ("torch",),
            "torch",
            _row_like("torch_nn", "torch_autograd"),
            torch_nn,
            torch_classifier_prepare,
            stands_for=("torch",),
        ),
        Peer(
            "optax_step",
            "a jax.jit of value_and_grad and optax.adam or sgd, one call per batch",
            ("jax", "optax"),
            "bench",
            _row_like("optax_step", "jax_jit"),
            optax_step,
            jax_prepare,
            stands_for=("jax",),
        ),
    )
}
