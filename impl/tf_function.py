"""The lesson's step compiled by XLA: tf.function(jit_compile=True) around the GradientTape step."""

import tensorflow as tf

from bridge.devices import tf_device
from bridge.recording import TFRecorder


@tf.function(jit_compile=True)  # traced once per dtype and batch shape, then one XLA program per call
def step(weight, x, y_true, lr, bias=None):
    """One update: returns the loss, the gradient and the new weight (then the bias's, if it has one)."""
    parameters = [weight] if bias is None else [weight, bias]
    with tf.GradientTape() as tape:
        tape.watch(parameters)  # plain tensors, not Variables: the step is a pure function
        pred = weight * x if bias is None else weight * x + bias  # 1-2: predict
        loss = tf.reduce_mean(tf.square(pred - y_true))  # 3: squared-error loss (a mean of one for one sample)
    grads = tape.gradient(loss, parameters)  # 4: slope of loss w.r.t. each parameter
    if bias is None:
        return loss, grads[0], weight - lr * grads[0]  # 4: step downhill
    return loss, grads[0], weight - lr * grads[0], grads[1], bias - lr * grads[1]


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: constants of the problem's dtype."""
    with tf.device(tf_device(device)):
        return tf.constant(problem.x, dtype=problem.dtype), tf.constant(problem.y, dtype=problem.dtype)


def one_weight(problem, device="cpu", data=None):
    """Train one weight, one compiled step per update."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        weight, lr = tf.constant(problem.w0, problem.dtype), tf.constant(problem.lr, problem.dtype)
        trajectory = TFRecorder(problem)  # kept on the device, read back once at the end
        for _ in range(problem.steps):
            loss, grad, weight = step(weight, x, y_true, lr)
            trajectory.record(loss, grad, weight)
        return trajectory.read()


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent, one compiled step per batch."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        weight, lr = tf.constant(problem.w0, problem.dtype), tf.constant(problem.lr, problem.dtype)
        bias = None if problem.b0 is None else tf.constant(problem.b0, problem.dtype)
        trajectory = TFRecorder(problem)
        for _ in range(problem.epochs):
            for batch in problem.batches:
                if bias is None:
                    loss, grad, weight = step(weight, x[batch], y_true[batch], lr)
                    trajectory.record(loss, grad, weight)
                else:
                    loss, grad, weight, bias_grad, bias = step(weight, x[batch], y_true[batch], lr, bias)
                    trajectory.record(loss, grad, weight, bias_grad, bias)
        return trajectory.read()


@tf.function(jit_compile=True)  # one XLA program per dtype, activation and batch shape
def network_step(parameters, x, y_true, lr, activation):
    """One update of the network: the loss, every gradient, every new parameter."""
    with tf.GradientTape() as tape:
        tape.watch(parameters)
        w1, b1, w2, b2 = parameters
        h = activation(x @ w1 + b1)  # 1: the hidden layer
        pred = h @ w2 + b2  # 2: predict
        loss = tf.reduce_mean(tf.square(pred - y_true))  # 3: mean squared error
    grads = tape.gradient(loss, parameters)  # 4: backpropagation
    return loss, grads, [p - lr * g for p, g in zip(parameters, grads)]  # 4: every parameter steps downhill


def network(problem, device="cpu", data=None):
    """A hidden layer, one compiled step per batch."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        parameters = [tf.constant(value, problem.dtype) for value in problem.layers]  # W1: 1 x H, W2: H x 1
        lr = tf.constant(problem.lr, problem.dtype)
        activation = tf.nn.relu if problem.activation == "relu" else tf.tanh
        trajectory = TFRecorder(problem)
        for _ in range(problem.epochs):
            for batch in problem.batches:
                xb, yb = tf.reshape(x[batch], (-1, 1)), tf.reshape(y_true[batch], (-1, 1))
                loss, grads, parameters = network_step(parameters, xb, yb, lr, activation)
                trajectory.record_layers(loss, grads, parameters)
        return trajectory.read()


def cross_entropy(logits, labels, from_logits):
    """3: the mean cross-entropy from the logits, or Keras's way from softmax probabilities clipped to 1e-7."""
    if from_logits:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    p = tf.clip_by_value(tf.nn.softmax(logits), 1e-7, 1 - 1e-7)
    return -tf.reduce_mean(tf.math.log(tf.gather(p, labels, axis=1, batch_dims=1)))


def classifier(problem, device="cpu", data=None):
    """The next lesson's network: the tape's step and a tf.keras optimizer's, compiled together by XLA."""
    import os
    import sys

    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"  # only for this process's Keras; a Keras row has its own
    import keras  # its optimizers are what a tf.function training step uses

    x, y = prepare(problem, device) if data is None else data
    labels = tf.cast(y, tf.int64)  # the labels as integers, to pick each image's p[label]
    floatx = keras.config.floatx()
    keras.config.set_floatx(problem.dtype)  # a Keras optimizer holds its learning rate in floatx (float32 by default)
    try:
        with tf.device(tf_device(device)):
            parameters = [tf.Variable(value, dtype=problem.dtype) for value in problem.layers]  # W1: inputs x H, ...
            if problem.optimizer == "adam":  # Keras adds epsilon to sqrt(v), before the bias correction
                b = dict(beta_1=problem.beta_1, beta_2=problem.beta_2, epsilon=problem.epsilon)
                optimizer = keras.optimizers.Adam(learning_rate=problem.lr, **b)
            else:
                optimizer = keras.optimizers.SGD(learning_rate=problem.lr)

            @tf.function(jit_compile=True)  # one XLA program per batch shape
            def train_step(xb, yb):
                with tf.GradientTape() as tape:
                    w1, b1, w2, b2 = parameters
                    h = tf.nn.relu(xb @ w1 + b1)  # 1: the hidden layer
                    logits = h @ w2 + b2  # 2: the ten scores
                    loss = cross_entropy(logits, yb, problem.from_logits)  # 3
                grads = tape.gradient(loss, parameters)  # 4: backpropagation
                optimizer.apply_gradients(zip(grads, parameters))  # 4: SGD's or Adam's step downhill
                return loss, grads

            trajectory = TFRecorder(problem)
            for epoch in range(problem.epochs):
                for batch in problem.batches:
                    loss, grads = train_step(x[batch], labels[batch])
                    trajectory.record_layers(loss, grads, parameters)
            return trajectory.read()
    finally:
        keras.config.set_floatx(floatx)
