"""The lesson's model in Keras 3: Sequential, Dense, compile and fit, on whichever backend this process has.

Keras fixes its backend when it is imported, so bridge.runners.keras_worker runs
this module in a process of its own for each backend. fit() does the loop's
steps for us; bridge/keras_recording.py only watches it (RecordingSGD keeps each
update's gradient, BatchLoss each batch's own loss, Recorder the weights).
"""

import keras
import numpy as np

from bridge.devices import keras_device
from bridge.keras_recording import BatchLoss, Recorder, RecordingAdam, RecordingSGD, float64
from bridge.trajectory import Trajectory


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
    SGD = RecordingSGD if recording else keras.optimizers.SGD  # RecordingSGD: SGD, keeping each gradient
    model.compile(
        optimizer=SGD(learning_rate=problem.lr),  # 4: step downhill: w = w - lr * grad
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
    SGD = RecordingSGD if recording else keras.optimizers.SGD
    model.compile(
        optimizer=SGD(learning_rate=problem.lr),  # 4: every parameter steps by lr times its gradient
        loss="mse",  # 3: mean squared error; backpropagation (4) is the backend's autodiff
        metrics=[BatchLoss(problem.dtype)] if recording else [],
        jit_compile=jit_compile,  # fixed, not "auto": False runs op by op on every backend
    )
    return model


def build_classifier(problem, jit_compile="auto", recording=True):
    """The next lesson's classifier: Dense(H, relu), Dense(10), an optimizer, cross-entropy and accuracy."""
    keras.config.set_floatx(problem.dtype)
    output = None if problem.from_logits else "softmax"  # with a softmax output, the loss reads probabilities
    model = keras.Sequential(
        [
            keras.Input((problem.inputs,), dtype=problem.dtype),
            keras.layers.Dense(problem.hidden, activation="relu", dtype=problem.dtype),  # 1: the hidden layer
            keras.layers.Dense(10, activation=output, dtype=problem.dtype),  # 2: the ten scores
        ]
    )
    model.set_weights([np.asarray(v, problem.dtype) for v in problem.layers])  # the project's start, not Keras's
    Adam = RecordingAdam if recording else keras.optimizers.Adam  # RecordingAdam: Adam, keeping each gradient
    SGD = RecordingSGD if recording else keras.optimizers.SGD
    if problem.optimizer == "adam":  # Keras adds epsilon to sqrt(v), before the bias correction
        betas = dict(beta_1=problem.beta_1, beta_2=problem.beta_2, epsilon=problem.epsilon)
        optimizer = Adam(learning_rate=problem.lr, **betas)
    else:
        optimizer = SGD(learning_rate=problem.lr)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=problem.from_logits)  # 3: cross-entropy
    metrics = ["accuracy"]  # the share of images it gets right, as the next lesson asks for
    if recording:
        metrics.append(BatchLoss(problem.dtype, loss=loss))  # each batch's own loss, for the trajectory
    model.compile(
        optimizer=optimizer,  # 4: each parameter steps downhill
        loss=loss,
        metrics=metrics,
        jit_compile=jit_compile,
    )
    return model


def fit(model_of, problem, x, y, epochs, batch_size, device, jit_compile="auto", keep_float64=False):
    """Build the model (model_of: build or build_network), fit it, and return what it walked through."""
    with float64(problem.dtype, keep_float64), keras.device(keras_device(device)):
        model = model_of(problem, jit_compile)
        trajectory = Trajectory()
        x, y = np.asarray(x, problem.dtype).reshape(-1, 1), np.asarray(y, problem.dtype).reshape(-1, 1)
        model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            shuffle=False,  # the canonical loop's batches: consecutive slices, in data order
            verbose=0,
            callbacks=[Recorder(trajectory)],
        )
    return trajectory


def one_weight(problem, device="cpu", jit_compile="auto", keep_float64=False):
    """The lesson's one sample, once per step: one epoch of batches of one.

    (epochs=steps over a dataset of one gives the same numbers, but TensorFlow's
    fit spends about 27 ms setting up each epoch: 20 s for the explode preset.)
    """
    copies = max(problem.steps, 1)  # fit refuses empty data; 0 steps is 0 epochs
    x, y = [problem.x] * copies, [problem.y] * copies
    return fit(build, problem, x, y, 1 if problem.steps else 0, 1, device, jit_compile, keep_float64)


def batched(problem, device="cpu", jit_compile="auto", keep_float64=False):
    """Mini-batch gradient descent: fit's batches are the canonical loop's consecutive slices."""
    return fit(
        build, problem, problem.x, problem.y, problem.epochs, problem.longest_batch, device, jit_compile, keep_float64
    )


def network(problem, device="cpu", jit_compile=False, keep_float64=False):
    """The next lesson's network, fitted batch by batch in data order."""
    return fit(
        build_network,
        problem,
        problem.x,
        problem.y,
        problem.epochs,
        problem.longest_batch,
        device,
        jit_compile,
        keep_float64,
    )


def classifier(problem, device="cpu", jit_compile="auto", keep_float64=False):
    """The next lesson's classifier: built and compiled, fitted on the training images in order, then evaluated."""
    with float64(problem.dtype, keep_float64), keras.device(keras_device(device)):
        model = build_classifier(problem, jit_compile)
        trajectory = Trajectory.keeping(problem)  # per update, or per epoch
        x_train, x_test = (np.asarray(x, problem.dtype) for x in (problem.x, problem.images.x_test))
        model.fit(
            x_train,
            problem.y,  # the labels, 0 to 9
            batch_size=problem.batch_size,
            epochs=problem.epochs,
            shuffle=False,  # fit shuffles by default: each row here takes the batches in the same order
            verbose=0,
            callbacks=[Recorder(trajectory)],
        )
        scores = model.evaluate(x_test, problem.images.y_test, verbose=0, return_dict=True)  # 5: on unseen images
    trajectory.evaluation = {"test_loss": float(scores["loss"]), "test_accuracy": float(scores["accuracy"])}
    return trajectory
