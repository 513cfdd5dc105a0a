"""The batched loop, data-parallel: torch's DistributedDataParallel, one process per worker.

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
import json
import os
import socket
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing
from torch.nn.parallel import DistributedDataParallel

from bridge.devices import parse, torch_device
from bridge.errors import DeviceUnavailable
from bridge.parallel import shards
from bridge.trajectory import Trajectory
from bridge.wire import problem_from_json, problem_to_json, trajectory_from_json, trajectory_to_json

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


def batched(problem, device="cpu", workers=2):
    """Start one process per worker (spawned: fresh interpreters), wait for them, and read rank 0's records."""
    if parse(device)[0] != "cpu" and torch.cuda.device_count() < workers:
        found = torch.cuda.device_count()
        raise DeviceUnavailable(
            f"torch_ddp with {workers} workers on {device} needs {workers} GPUs; torch sees {found}"
        )
    with tempfile.TemporaryDirectory(prefix="torch_ddp-") as folder:
        request = {"problem": problem_to_json(problem), "device": device, "workers": workers}
        torch.multiprocessing.start_processes(
            worker, args=(request, folder), nprocs=workers, join=True, start_method="spawn"
        )
        ranks = [_read(os.path.join(folder, f"rank{k}.json")) for k in range(workers)]  # read before it goes
    (trajectory, first), *_ = ranks
    trajectory.local_grads = [[r.local_grads[k][0] for r, _ in ranks] for k in range(len(trajectory))]
    trajectory.local_bias_grads = [[r.local_bias_grads[k][0] for r, _ in ranks] for k in range(len(trajectory.biases))]
    trajectory.world = {
        "engine": "nccl" if parse(device)[0] != "cpu" else "gloo",
        "world_size": first["world_size"],
        "devices": len({(w["pid"], w["device"]) for _, w in ranks}),  # distinct processes and devices
        "ranks": sorted(w["rank"] for _, w in ranks),
    }
    return trajectory


def _read(path):
    """A rank's file: its records (its own gradients among them) and what it reported."""
    with open(path) as file:
        data = json.load(file)
    return trajectory_from_json(data, workers=1), data["world"]


def worker(rank, request, folder):
    """One worker: join the process group through a file, train on this rank's shares, save what it saw."""
    problem, device, workers = problem_from_json(request["problem"]), request["device"], request["workers"]
    torch.set_num_threads(1)  # one thread each: N workers share the machine's cores
    os.environ.setdefault("GLOO_SOCKET_IFNAME", _loopback())  # gloo's sockets on the loopback address only
    on_gpu = parse(device)[0] != "cpu"
    dist.init_process_group(
        "nccl" if on_gpu else "gloo",
        init_method=f"file://{os.path.join(folder, 'rendezvous')}",  # a file, so no fixed port
        rank=rank,
        world_size=workers,
        timeout=RENDEZVOUS_TIMEOUT,
    )
    try:
        where = torch_device(f"cuda:{rank}") if on_gpu else torch.device("cpu")
        records = worker_loop(problem, where, rank, workers)
        records.world = {"rank": rank, "world_size": dist.get_world_size(), "pid": os.getpid(), "device": str(where)}
        with open(os.path.join(folder, f"rank{rank}.json"), "w") as file:  # what it saw, and who saw it
            json.dump(trajectory_to_json(records, problem), file)
        dist.barrier()  # every worker done before any leaves: gloo aborts a worker whose peer hung up mid-call
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: gloo's threads, destroyed there while still joinable, made
    # 1 run in 10 end in std::terminate (SIGABRT) after its work was done and saved
    os._exit(0)


def worker_loop(problem, device, rank, workers):
    """What each worker runs: the batched loop on its own share of every batch; what it saw, to save."""
    model = Line(problem, device)
    ddp = DistributedDataParallel(model)  # on the CPU: no device_ids
    parameters = list(model.parameters())
    dtype = getattr(torch, problem.dtype)
    x, y_true = (torch.tensor(v, dtype=dtype, device=device) for v in (problem.x, problem.y))
    lr = problem.lr
    kept = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            mine = shards(batch, workers)[rank]
            xb, yb, n = x[mine], y_true[mine], batch.stop - batch.start
            # this worker's own gradient, recorded: DDP hands back only the combined one (same operations, same bits)
            local = torch.autograd.grad(share_of_mean(model(xb), yb, n) * workers, parameters)
            share = share_of_mean(ddp(xb), yb, n)  # 1-3: predict, this worker's share of the loss
            (share * workers).backward()  # 4: slope; DDP averages the workers' gradients: N shares / N
            loss = share.detach().clone()
            dist.all_reduce(loss)  # the batch's loss: the sum of the shares (the same on every worker)
            with torch.no_grad():
                for parameter in parameters:
                    parameter.copy_(parameter - lr * parameter.grad)  # 4: step downhill
            _keep(kept, loss, model, local)
            for parameter in parameters:
                parameter.grad = None
    return kept


def _keep(kept, loss, model, local):
    """One update: the combined gradient and new values, and this worker's own gradient (a row of one)."""
    bias = (model.bias.grad, model.bias) if model.bias is not None else ()
    kept.record(loss, model.weight.grad, model.weight, *bias)
    kept.local_grads.append([local[0].item()])
    if model.bias is not None:
        kept.local_bias_grads.append([local[1].item()])


def _loopback() -> str:
    """The loopback interface's name (lo on Linux, lo0 on macOS)."""
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    return names[0] if names else "lo"
