"""The lesson's model in Keras 3: Sequential, Dense, compile and fit, on whichever backend this process has.

Keras fixes its backend when it is imported, so bridge.keras_process runs this
module in a process of its own for each backend. fit() does the loop's steps
for us; three small additions only watch it, because the logs fit hands out
hold a running mean of the epoch's losses, not each batch's own:
  RecordingSGD  plain SGD that also keeps the gradient each update used
  BatchLoss     the batch's mean squared error, from the y_pred the loss saw
  Recorder      reads the weight (and the bias) after each batch
"""

import keras
import numpy as np
from keras import ops

from bridge import Network, Trajectory
from bridge.devices import keras_device


class RecordingSGD(keras.optimizers.SGD):
    """SGD's own update (variable - lr * gradient), which also keeps the gradient it used."""

    def build(self, variables):
        super().build(variables)
        self.last_gradients = [self.add_variable_from_reference(v, name="last_gradient") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        self.assign(self.last_gradients[self._get_variable_index(variable)], gradient)
        super().update_step(gradient, variable, learning_rate)  # 4: step downhill


class BatchLoss(keras.metrics.Metric):
    """This batch's loss before its update: "mse" on this batch alone, not averaged over the epoch."""

    def __init__(self, dtype):
        super().__init__(name="batch_loss", dtype=dtype)
        self.mse = keras.losses.MeanSquaredError(dtype=dtype)  # what loss="mse" computes
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(self.mse(y_true, y_pred))

    def result(self):
        return ops.convert_to_tensor(self.value)


class Recorder(keras.callbacks.Callback):
    """After every batch, one entry of the trajectory."""

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


def build(problem, jit_compile="auto", recording=True):
    """The lesson's model, compiled: Dense(1) starting from w0 (and b0), SGD, mean squared error.

    recording=False leaves out the two additions that watch fit (a plain SGD, no metric): what a user builds.
    """
    keras.config.set_floatx(problem.dtype)  # loss="mse" and SGD's learning rate are held in Keras's float type
    # NumPy scalars of the dtype, not Python floats: on the TensorFlow backend Constant()
    # casts with tf.cast, which reads a Python float as float32 before widening it.
    real = np.dtype(problem.dtype).type
    w0, b0 = real(problem.w0), real(problem.b0 if problem.has_bias else 0.0)
    model = keras.Sequential(
        [
            keras.Input((1,), dtype=problem.dtype),
            keras.layers.Dense(  # 1-2: predict: pred = w * x (+ b)
                1,
                use_bias=problem.has_bias,
                kernel_initializer=keras.initializers.Constant(w0),
                bias_initializer=keras.initializers.Constant(b0),
                dtype=problem.dtype,
            ),
        ]
    )
    sgd = RecordingSGD if recording else keras.optimizers.SGD
    model.compile(
        optimizer=sgd(learning_rate=problem.lr),  # 4: w = w - lr * grad
        loss="mse",  # 3: mean squared error; its gradient (4) comes from the backend's autodiff
        metrics=[BatchLoss(problem.dtype)] if recording else [],
        jit_compile=jit_compile,  # "auto": XLA on the JAX backend; False keeps every operation apart
    )
    return model


def build_network(problem, jit_compile=False, recording=True):
    """The next lesson's network: Dense(H, activation), then Dense(1), starting from the problem's parameters."""
    keras.config.set_floatx(problem.dtype)
    model = keras.Sequential(
        [
            keras.Input((1,), dtype=problem.dtype),
            keras.layers.Dense(problem.hidden, activation=problem.activation, dtype=problem.dtype),  # 1: hidden
            keras.layers.Dense(1, dtype=problem.dtype),  # 2: predict
        ]
    )
    # A Keras kernel is (inputs, outputs): W1 is 1 x H and W2 is H x 1, as in the hand loops
    model.set_weights([np.asarray(v, problem.dtype) for v in problem.layers])
    sgd = RecordingSGD if recording else keras.optimizers.SGD
    model.compile(
        optimizer=sgd(learning_rate=problem.lr),  # 4: every parameter steps by lr times its gradient
        loss="mse",  # 3: mean squared error; backpropagation (4) is the backend's autodiff
        metrics=[BatchLoss(problem.dtype)] if recording else [],
        jit_compile=jit_compile,  # fixed, not "auto": False runs op by op on every backend
    )
    return model


def fit(problem, x, y, epochs, batch_size, device, jit_compile="auto"):
    """Build the lesson's model (or the network), fit it, and return what it walked through."""
    with keras.device(keras_device(device)):
        model = build_network(problem, jit_compile) if isinstance(problem, Network) else build(problem, jit_compile)
        trajectory = Trajectory()
        x, y = np.asarray(x, problem.dtype).reshape(-1, 1), np.asarray(y, problem.dtype).reshape(-1, 1)
        model.fit(
            x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, callbacks=[Recorder(trajectory)]
        )
    return trajectory


def one_weight(problem, device="cpu", jit_compile="auto"):
    """The lesson's one sample, once per step: one epoch of batches of one.

    (epochs=steps over a dataset of one gives the same numbers, but TensorFlow's
    fit spends about 27 ms setting up each epoch: 20 s for the explode preset.)
    """
    copies = max(problem.steps, 1)  # fit refuses empty data; 0 steps is 0 epochs
    x, y = [problem.x] * copies, [problem.y] * copies
    return fit(problem, x, y, 1 if problem.steps else 0, 1, device, jit_compile)


def batched(problem, device="cpu", jit_compile="auto"):
    """Mini-batch gradient descent: fit's batches are the canonical loop's consecutive slices."""
    return fit(problem, problem.x, problem.y, problem.epochs, problem.longest_batch, device, jit_compile)


def network(problem, device="cpu", jit_compile=False):
    """The next lesson's network, fitted batch by batch in data order."""
    return fit(problem, problem.x, problem.y, problem.epochs, problem.longest_batch, device, jit_compile)
