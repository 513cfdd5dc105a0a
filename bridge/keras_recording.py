"""Watching Keras's fit(), shared by the Keras rows (impl/keras.py, impl/keras_data_parallel.py).

fit() does the loop's steps; these three additions only watch it, because
the logs fit hands out hold a running mean of the epoch's losses, not each batch's own:
  RecordingSGD  plain SGD that also keeps the gradient each update used
  BatchLoss     the batch's mean squared error, from the y_pred the loss saw
  Recorder      reads the weights after each batch into a Trajectory
  LayoutWatch   (JAX backend) the layout the compiled step received its batches in: which rows each device held
float64() holds what a Keras user sets for a float64 run, and the experiment that undoes Keras's float32 promotion.
Imported only where Keras runs: in a Keras worker or a launcher.
"""

import contextlib
import functools

import keras
import numpy as np
from keras import ops

DEFAULT_REDUCTION = "sum_over_batch_size"  # what loss="mse" divides by: the batch's length


def recording(optimizer):
    """The optimizer's own update, which also keeps the gradient it used: RecordingSGD, RecordingAdam."""

    class Recording(optimizer):
        def build(self, variables):
            super().build(variables)
            self.last_gradients = [self.add_variable_from_reference(v, name="last_gradient") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            self.assign(self.last_gradients[self._get_variable_index(variable)], gradient)
            super().update_step(gradient, variable, learning_rate)  # 4: step downhill

    Recording.__name__ = Recording.__qualname__ = f"Recording{optimizer.__name__}"
    return Recording


RecordingSGD = recording(keras.optimizers.SGD)  # SGD's own update, variable - lr * gradient
RecordingAdam = recording(keras.optimizers.Adam)  # Adam's own update


class BatchLoss(keras.metrics.Metric):
    """This batch's loss before its update, as the loss computes it ("mse" unless given) on this batch alone."""

    def __init__(self, dtype, reduction=DEFAULT_REDUCTION, loss=None):
        super().__init__(name="batch_loss", dtype=dtype)
        # what the loss computes: the batch's mean squared error, or the classifier's cross-entropy
        self.loss = loss or keras.losses.MeanSquaredError(reduction=reduction, dtype=dtype)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(self.loss(y_true, y_pred, sample_weight))

    def result(self):
        return ops.convert_to_tensor(self.value)


class Recorder(keras.callbacks.Callback):
    """After every batch, one entry of the trajectory: the loss, the gradients used, the new weights."""

    def __init__(self, trajectory):
        super().__init__()
        self.trajectory = trajectory

    def on_train_batch_end(self, batch, logs=None):
        loss = ops.convert_to_numpy(logs["batch_loss"]).item()
        if not self.trajectory.layers_due():  # between epochs, where a classifier keeps its layers once an epoch
            self.trajectory.record_loss(loss)
            return
        if hasattr(self.model, "jax_state_sync"):  # the JAX trainer works on copies: bring them back first
            self.model.jax_state_sync()
        grads = [ops.convert_to_numpy(g) for g in self.model.optimizer.last_gradients]
        weights = [ops.convert_to_numpy(v) for v in self.model.weights]  # each layer's kernel, then its bias
        if len(self.model.layers) == 2:  # the network: W1, b1, W2, b2
            self.trajectory.record_layers(loss, grads, weights)
            return
        bias_values = (grads[1].item(), weights[1].item()) if len(weights) == 2 else ()
        self.trajectory.record(loss, grads[0].item(), weights[0].item(), *bias_values)


class LayoutWatch(keras.metrics.Metric):
    """Given the batch's sample weights inside the compiled train step, keeps the sharding they arrive in.

    jax.debug.inspect_array_sharding reports it while the step compiles: what XLA was handed, not what the
    distribution was configured with. Its devices_indices_map says which rows of a batch each device holds.
    """

    def __init__(self):
        super().__init__(name="layout_watch")
        self.layouts = []
        self.nothing = self.add_variable(shape=(), initializer="zeros", name="nothing")

    def update_state(self, y_true, y_pred, sample_weight=None):
        import jax

        jax.debug.inspect_array_sharding(sample_weight, callback=self.layouts.append)

    def result(self):
        return ops.convert_to_tensor(self.nothing)


@contextlib.contextmanager
def float64(dtype: str, keep_float64: bool = False):
    """JAX's float64 switched on for a float64 run; keep_float64: Keras's float64 -> float32 promotion undone."""
    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_enable_x64", dtype == "float64")  # JAX has no float64 without it
    from keras.src.backend.common import dtypes

    promoted = dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    if keep_float64:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    try:
        yield
    finally:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = promoted


def own_gradients(model, layout, data, batch_size, problem, trajectory):
    """Each device's own share of the loss and gradient at every update, [[worker 0's, worker 1's, ...] per update]
    for the loss and each parameter, and what each device was seen holding: [{"worker", "on", "samples"}].

    The rows of each batch a device held (the layout the compiled step received) go through the model's own
    call and the loss, summed over those rows and divided by the batch's real size: that device's share of the
    batch's mean. Computed again, on that device, at the weights each update started from (the compiled step
    all-reduces inside XLA, so its own are never seen apart). A layout that gave a device the whole batch shows.
    """
    import jax

    x, y, weight = (np.asarray(v).reshape(-1, batch_size, *np.shape(v)[1:]) for v in data)  # (batches, rows, ...)
    sizes = weight.sum(axis=1)  # each batch's real samples: the padding weighs 0
    mse = keras.losses.MeanSquaredError(reduction="sum")

    def share(parameters, xs, ys, ws, n, k):  # 1-3 on this device's rows of batch k, over the batch's real size
        pred, _ = model.stateless_call(parameters, [], xs[k])
        return mse(ys[k], pred, ws[k]) / n[k]

    steps = len(trajectory)
    starts = [[problem.w0, *trajectory.weights[: steps - 1]]]
    if problem.has_bias:
        starts.append([problem.b0, *trajectory.biases[: steps - 1]])
    shapes = [tuple(v.shape) for v in model.trainable_weights]
    gradient = jax.jit(jax.vmap(jax.value_and_grad(share), in_axes=(0, None, None, None, None, 0)))
    rows = layout.devices_indices_map((batch_size,))
    found, seen = [[] for _ in range(1 + len(starts))], []
    for worker, device in enumerate(layout.mesh.devices.flat):  # worker k: the mesh's k-th device
        mine = rows[device][0]
        seen.append({"worker": worker, "on": str(device), "samples": [int(n) for n in weight[:, mine].sum(axis=1)]})
        if not steps:
            continue
        put = functools.partial(jax.device_put, device=device)
        real = [np.asarray(v, problem.dtype) for v in (x[:, mine], y[:, mine], weight[:, mine], sizes)]
        parameters = [np.asarray(v, problem.dtype).reshape(steps, *shape) for v, shape in zip(starts, shapes)]
        loss, grads = gradient(put(parameters), *put(real), put(np.arange(steps) % len(x)))
        for kept, values in zip(found, (loss, *grads)):
            kept.append(np.asarray(values, np.float64).reshape(steps).tolist())
    return [[list(step) for step in zip(*per_worker)] for per_worker in found], seen
