"""The batched loop, data-parallel: torch's DistributedDataParallel, one process per worker.

The launcher (bridge/runners/ranks.py) starts one process per worker and runs worker() in each.

Each batch is split across the workers in data order (bridge.parallel.shards).
Every worker runs the same loop on its own share:
  1-2: predict    pred = w * x (+ b), on this worker's samples only
  3:   loss       sum((pred - y)^2) / n, n the WHOLE batch's size: this worker's share of the batch's mean
  4:   slope      loss.backward(); DDP's all-reduce combines the workers' gradients as backward runs
  4:   step       w = w - lr * grad, under no_grad: the lesson's step, the same on every worker
DDP averages: each worker's gradient is scaled by 1/N, then summed (tests/test_parallel.py measures how).
So each share is scaled by N first, and the average of N times the shares is their sum: the batch's mean.
An empty share (a batch smaller than N) sums to 0; its mean would be NaN.
"""

import datetime
import os
import socket

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from bridge.devices import parse, torch_device
from bridge.parallel import shards
from bridge.trajectory import Trajectory

RENDEZVOUS_TIMEOUT = datetime.timedelta(seconds=60)  # a worker that never arrives fails the run, not hangs it


class Line(torch.nn.Module):
    """The lesson's model as a module (DDP wraps modules): pred = w * x, plus b with a bias."""

    def __init__(self, problem, device):
        super().__init__()
        dtype = getattr(torch, problem.dtype)
        self.weight = torch.nn.Parameter(torch.tensor(problem.w0, dtype=dtype, device=device))
        self.bias = (
            torch.nn.Parameter(torch.tensor(problem.b0, dtype=dtype, device=device)) if problem.has_bias else None
        )

    def forward(self, x):
        pred = self.weight * x
        return pred if self.bias is None else pred + self.bias


def share_of_mean(pred, yb, n):
    """3: this worker's share of the batch's mean squared error: its own squared errors summed, over n."""
    return ((pred - yb) ** 2).sum() / n


def worker(problem, device="cpu", rank=0, workers=2, rendezvous=""):
    """One worker (the launcher starts one process each): join the process group through a file, train its shares."""
    torch.set_num_threads(1)  # one thread each: N workers share the machine's cores
    os.environ.setdefault("GLOO_SOCKET_IFNAME", _loopback())  # gloo's sockets on the loopback address only
    on_gpu = not parse(device).on_cpu
    dist.init_process_group(
        "nccl" if on_gpu else "gloo",
        init_method=f"file://{rendezvous}",  # a file, so no fixed port
        rank=rank,
        world_size=workers,
        timeout=RENDEZVOUS_TIMEOUT,
    )
    try:
        where = torch_device(f"cuda:{rank}") if on_gpu else torch.device("cpu")
        trained = worker_loop(problem, where, rank, workers)
        engine = "nccl" if on_gpu else "gloo"
        trained.world |= {"engine": engine, "world_size": dist.get_world_size(), "device": str(where)}
        dist.barrier()  # every worker done before any leaves: gloo aborts a worker whose peer hung up mid-call
    finally:
        dist.destroy_process_group()
    return trained


def worker_loop(problem, device, rank, workers):
    """What each worker runs: the batched loop on its own share of every batch; what it saw, to save."""
    model = Line(problem, device)
    ddp = DistributedDataParallel(model)  # on the CPU: no device_ids
    parameters = list(model.parameters())
    dtype = getattr(torch, problem.dtype)
    x, y_true = (torch.tensor(v, dtype=dtype, device=device) for v in (problem.x, problem.y))
    lr = problem.lr
    kept, samples = Trajectory(), []
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            mine = shards(batch, workers)[rank]
            xb, yb, n = x[mine], y_true[mine], batch.stop - batch.start
            if epoch == 0:
                samples.append(len(xb))  # the samples this worker was given: what it reports it saw
            # this worker's own gradient, recorded: DDP hands back only the combined one (same operations, same bits)
            local = torch.autograd.grad(share_of_mean(model(xb), yb, n) * workers, parameters)
            share = share_of_mean(ddp(xb), yb, n)  # 1-3: predict, this worker's share of the loss
            (share * workers).backward()  # 4: slope; DDP averages the workers' gradients: N shares / N
            loss = share.detach().clone()
            dist.all_reduce(loss)  # the batch's loss: the sum of the shares (the same on every worker)
            with torch.no_grad():
                for parameter in parameters:
                    parameter.copy_(parameter - lr * parameter.grad)  # 4: step downhill
            _keep(kept, loss, model, share, local)
            for parameter in parameters:
                parameter.grad = None
    kept.world = {"samples": samples}
    return kept


def _keep(kept, loss, model, share, local):
    """One update: the combined gradient and new values, and this worker's own share and gradient (rows of one)."""
    bias = (model.bias.grad, model.bias) if model.bias is not None else ()
    kept.record(loss, model.weight.grad, model.weight, *bias)
    kept.local_losses.append([share.item()])
    kept.local_grads.append([local[0].item()])
    if model.bias is not None:
        kept.local_bias_grads.append([local[1].item()])


def _loopback() -> str:
    """The loopback interface's name (lo on Linux, lo0 on macOS)."""
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    return names[0] if names else "lo"
