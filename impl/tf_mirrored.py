"""The batched loop, data-parallel: TensorFlow's MirroredStrategy over N devices, a GradientTape on each.

On a CPU the N devices are logical ones, which must be set before TensorFlow
starts its runtime: bridge.runners.launcher runs this module in a launcher process of
its own. Each replica runs the same step on its own shard (in data order):
  1-2: predict    pred = w * x (+ b), on this replica's samples
  3:   loss       tf.nn.compute_average_loss(error^2, global_batch_size=n): the squared errors summed, over
                  the WHOLE batch's real size n (15 for mini_batch's last batch, not batch_size)
  4:   slope      tape.gradient, then the replica context's all_reduce("sum") adds the replicas' gradients
  4:   step       w = w - lr * grad, assigned to every replica's copy
Per-replica shards may differ in size here (an empty one sums to 0), so nothing is padded.
"""

import tensorflow as tf

from bridge.devices import parse
from bridge.errors import DeviceUnavailable
from bridge.parallel import shards
from bridge.trajectory import Trajectory


def strategy_for(device, workers):
    """N logical CPUs (set before TensorFlow's runtime starts), or N GPUs; and the strategy over them."""
    if parse(device).on_cpu:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * workers)
        names = [f"/cpu:{k}" for k in range(workers)]
    else:
        found = len(tf.config.list_physical_devices("GPU"))
        if found < workers:
            raise DeviceUnavailable(f"tf_mirrored with {workers} workers needs {workers} GPUs; TensorFlow sees {found}")
        names = [f"/gpu:{k}" for k in range(workers)]
    return tf.distribute.MirroredStrategy(names)


def batched(problem, device="cpu", workers=2):
    """Mini-batch gradient descent with each batch's shares on N replicas."""
    strategy = strategy_for(device, workers)
    with strategy.scope():  # variables made here are mirrored: one copy per replica
        weight = tf.Variable(problem.w0, dtype=problem.dtype)
        bias = None if problem.b0 is None else tf.Variable(problem.b0, dtype=problem.dtype)
    parameters = [weight] if bias is None else [weight, bias]
    lr = problem.lr

    def replica_step(xb, yb, n):
        """What each replica runs on its shard: its share, its own gradient, then the all-reduce."""
        with tf.GradientTape() as tape:
            pred = weight * xb if bias is None else weight * xb + bias  # 1-2: predict
            share = tf.nn.compute_average_loss(tf.square(pred - yb), global_batch_size=n)  # 3: this share
        local = tape.gradient(share, parameters)  # 4: this replica's slope
        context = tf.distribute.get_replica_context()
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, local)  # 4: the all-reduce: gradients added
        loss = context.all_reduce(tf.distribute.ReduceOp.SUM, share)  # the batch's loss: the shares added
        return loss, grads, share, local, context.num_replicas_in_sync, tf.shape(xb)[0]  # and its shard's size

    x, y_true = problem.x, problem.y
    first = strategy.experimental_local_results  # each replica's value, in replica order
    trajectory = Trajectory()
    world = strategy.num_replicas_in_sync  # the replicas' own count replaces it at the first step
    seen = [{"worker": k, "on": "", "samples": []} for k in range(workers)]
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            split = shards(batch, workers)
            xs, ys = (_per_replica(strategy, values, split, problem.dtype) for values in (x, y_true))
            loss, grads, share, local, world, samples = strategy.run(
                replica_step, args=(xs, ys, batch.stop - batch.start)
            )
            if epoch == 0:  # what each replica saw: its shard's size, and the device its gradient came from
                for replica, count, grad in zip(seen, first(samples), first(local[0])):
                    replica["samples"].append(int(count))
                    replica["on"] = grad.device
            loss, grads = first(loss)[0], [first(g)[0] for g in grads]
            for parameter, grad in zip(parameters, grads):
                parameter.assign(parameter - lr * grad)  # 4: step downhill, on every replica's copy
            bias_values = () if bias is None else (grads[1], bias.numpy())
            trajectory.record(loss, grads[0], weight.numpy(), *bias_values)
            trajectory.local_losses.append([float(s) for s in first(share)])
            trajectory.local_grads.append([float(g) for g in first(local[0])])
            if bias is not None:
                trajectory.local_bias_grads.append([float(g) for g in first(local[1])])
    devices = {v.device for v in first(weight)}  # the devices holding a copy of the weight
    trajectory.world = {"engine": "MirroredStrategy", "world_size": int(first(world)[0]), "devices": len(devices)}
    trajectory.world["seen"] = seen
    return trajectory


def _per_replica(strategy, values, split, dtype):
    """Each replica's shard of the batch, placed on that replica's device."""
    return strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(values[split[context.replica_id_in_sync_group]], dtype=dtype)
    )
