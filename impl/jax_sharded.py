"""The batched loop, data-parallel: JAX, each batch sharded over N devices with jax.shard_map.

On a CPU, N devices exist only if JAX_NUM_CPU_DEVICES says so before JAX starts:
bridge.runners.launcher runs this module in a launcher process of its own. Each device
runs the same step on its own shard:
  1-2: predict    pred = w * x (+ b), on this device's samples
  3:   loss       sum(error^2) / n, n the WHOLE batch's real size: this device's share of the batch's mean
  4:   slope      jax.value_and_grad of the share, then jax.lax.psum adds the devices' gradients
  4:   step       w = w - lr * grad: the lesson's step
shard_map wants equal shards, so each is padded to the largest one's size with
samples whose error is zeroed (their data alone cannot be: with a bias, x = 0 still has an error).
The shares are already of the batch's mean, so psum, not pmean (which would divide by N again).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bridge.devices import parse
from bridge.errors import DeviceUnavailable
from bridge.parallel import padded_size, shards
from bridge.trajectory import Trajectory

AXIS = "workers"  # the mesh's one axis: the batch is split along it


def share_of_mean(parameters, x, y_true, real, n):
    """1-3: this device's share of the batch's mean squared error; a padded sample's error is zeroed."""
    weight, *bias = parameters
    pred = weight * x + bias[0] if bias else weight * x  # 1-2: predict
    error = (pred - y_true) * real  # real is 1 for a sample, 0 for padding
    return jnp.sum(error**2) / n  # 3: the squared errors summed, over the whole batch's size


def device_step(parameters, x, y_true, real, n):
    """What each device runs on its shard: its share and its own gradient, then the all-reduce."""
    # The trap: inside shard_map the gradient of a replicated parameter comes out summed over the devices
    # already. Cast to varying, so this device's gradient is its own, and the sum is the one written below.
    mine = jax.lax.pcast(parameters, AXIS, to="varying")
    share, local = jax.value_and_grad(share_of_mean)(mine, x, y_true, real, n)  # 4: this device's slope
    grads = jax.lax.psum(local, AXIS)  # 4: the all-reduce: the devices' gradients added
    loss = jax.lax.psum(share, AXIS)  # the batch's loss: the shares added
    world = jax.lax.psum(1, AXIS)  # how many devices took part (XLA folds it to the mesh's size)
    samples = jnp.sum(real)[None]  # how many real samples this device's shard held, counted on it
    return loss, grads, (share[None], *(g[None] for g in local)), world, samples


def prepare(problem, mesh, workers):
    """0: each batch padded to N equal shards and placed on the devices, one shard each, once."""
    sharded = NamedSharding(mesh, P(AXIS))
    batches = []
    for batch in problem.batches:
        size = padded_size(batch, workers)
        x, y_true, real = (np.zeros(workers * size, problem.dtype) for _ in range(3))
        for k, shard in enumerate(shards(batch, workers)):
            count = shard.stop - shard.start
            x[k * size : k * size + count] = problem.x[shard]
            y_true[k * size : k * size + count] = problem.y[shard]
            real[k * size : k * size + count] = 1
        n = np.asarray(batch.stop - batch.start, problem.dtype)
        batches.append((*(jax.device_put(a, sharded) for a in (x, y_true, real)), n))
    return batches


def batched(problem, device="cpu", workers=2):
    """Mini-batch gradient descent over N devices: shard_map and psum, compiled once by jit."""
    kind = parse(device).kind
    with jax.enable_x64(problem.dtype == "float64"):
        devices = jax.devices(kind)
        if len(devices) < workers:
            raise DeviceUnavailable(
                f"jax_sharded with {workers} workers needs {workers} {kind} devices; JAX sees {len(devices)}"
            )
        mesh = Mesh(np.array(devices[:workers]), (AXIS,))
        step = jax.jit(
            jax.shard_map(
                device_step,
                mesh=mesh,
                in_specs=(P(), P(AXIS), P(AXIS), P(AXIS), P()),
                out_specs=(P(), P(), P(AXIS), P(), P(AXIS)),
            )
        )
        batches = prepare(problem, mesh, workers)
        parameters = (problem.w0,) if problem.b0 is None else (problem.w0, problem.b0)
        parameters = tuple(jax.device_put(jnp.asarray(p, problem.dtype), NamedSharding(mesh, P())) for p in parameters)
        lr = problem.lr
        kept, world, seen = [], mesh.size, []  # the workers' own count replaces the mesh's at the first step
        for epoch in range(problem.epochs):
            for x, y_true, real, n in batches:
                loss, grads, local, world, samples = step(parameters, x, y_true, real, n)  # 1-4, on every device
                if epoch == 0:
                    seen.append(samples)
                parameters = tuple(p - lr * g for p, g in zip(parameters, grads))  # 4: step downhill
                # Wait for the step: XLA's CPU client runs each device on a thread of a pool as large as the
                # cores, and work queued ahead of a device can leave its all-reduce waiting for it forever
                jax.block_until_ready(parameters)
                kept.append((loss, grads, parameters, local))
        trajectory = _trajectory(kept, int(world), len(parameters[0].sharding.device_set))
        trajectory.world["seen"] = _seen(seen, workers)
        return trajectory


def _seen(counts, workers):
    """Each worker's device and the samples it held per batch: read from the arrays' own shards, device by device."""
    seen = [{"worker": k, "on": "", "samples": []} for k in range(workers)]
    for samples in counts:
        for shard in samples.addressable_shards:  # one per device, at the index of the worker it ran
            worker = seen[shard.index[0].start or 0]
            worker["on"] = str(shard.device)
            worker["samples"].append(int(shard.data[0]))
    return seen


def _trajectory(kept, world, devices):
    trajectory = Trajectory()
    for loss, grads, parameters, own in jax.device_get(kept):  # own: each device's share, gradient (and bias's)
        bias = (grads[1], parameters[1]) if len(grads) == 2 else ()
        trajectory.record(loss, grads[0], parameters[0], *bias)
        for kept_in, values in zip((trajectory.local_losses, trajectory.local_grads, trajectory.local_bias_grads), own):
            kept_in.append(np.asarray(values, np.float64).tolist())
    trajectory.world = {"engine": "xla psum", "world_size": world, "devices": devices}
    return trajectory
