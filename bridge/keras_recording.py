"""Watching Keras's fit(), shared by the Keras rows (impl/keras.py, impl/keras_data_parallel.py).

fit() does the loop's steps; these three additions only watch it, because
the logs fit hands out hold a running mean of the epoch's losses, not each batch's own:
  RecordingSGD  plain SGD that also keeps the gradient each update used
  BatchLoss     the batch's mean squared error, from the y_pred the loss saw
  Recorder      reads the weights after each batch into a Trajectory
float64() holds what a Keras user sets for a float64 run, and the experiment that undoes Keras's float32 promotion.
Imported only where Keras runs: in a Keras worker or a launcher.
"""

import contextlib

import keras
from keras import ops

DEFAULT_REDUCTION = "sum_over_batch_size"  # what loss="mse" divides by: the batch's length


class RecordingSGD(keras.optimizers.SGD):
    """SGD's own update (variable - lr * gradient), which also keeps the gradient it used."""

    def build(self, variables):
        super().build(variables)
        self.last_gradients = [self.add_variable_from_reference(v, name="last_gradient") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        self.assign(self.last_gradients[self._get_variable_index(variable)], gradient)
        super().update_step(gradient, variable, learning_rate)  # 4: step downhill


class BatchLoss(keras.metrics.Metric):
    """This batch's loss before its update, as the loss computes it: "mse" on this batch alone, not the epoch's."""

    def __init__(self, dtype, reduction=DEFAULT_REDUCTION):
        super().__init__(name="batch_loss", dtype=dtype)
        self.mse = keras.losses.MeanSquaredError(reduction=reduction, dtype=dtype)  # what the loss computes
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(self.mse(y_true, y_pred, sample_weight))

    def result(self):
        return ops.convert_to_tensor(self.value)


class Recorder(keras.callbacks.Callback):
    """After every batch, one entry of the trajectory: the loss, the gradients used, the new weights."""

    def __init__(self, trajectory):
        super().__init__()
        self.trajectory = trajectory

    def on_train_batch_end(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):  # the JAX trainer works on copies: bring them back first
            self.model.jax_state_sync()
        loss = ops.convert_to_numpy(logs["batch_loss"]).item()
        grads = [ops.convert_to_numpy(g) for g in self.model.optimizer.last_gradients]
        weights = [ops.convert_to_numpy(v) for v in self.model.weights]  # each layer's kernel, then its bias
        if len(self.model.layers) == 2:  # the network: W1, b1, W2, b2
            self.trajectory.record_layers(loss, grads, weights)
            return
        bias_values = (grads[1].item(), weights[1].item()) if len(weights) == 2 else ()
        self.trajectory.record(loss, grads[0].item(), weights[0].item(), *bias_values)


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
