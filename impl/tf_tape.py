"""The lesson's loop in TensorFlow eager mode, with the gradient from tf.GradientTape."""

import tensorflow as tf

from bridge.devices import tf_device
from bridge.recording import TFRecorder


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: constants of the problem's dtype."""
    with tf.device(tf_device(device)):
        return tf.constant(problem.x, dtype=problem.dtype), tf.constant(problem.y, dtype=problem.dtype)


def one_weight(problem, device="cpu", data=None):
    """Train one weight held in a tf.Variable."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        weight = tf.Variable(problem.w0, dtype=problem.dtype)
        lr = problem.lr  # a Python float: TensorFlow converts it to the weight's dtype
        trajectory = TFRecorder(problem)  # copies each value: the Variable changes in place
        for step in range(problem.steps):
            with tf.GradientTape() as tape:  # records the forward pass
                pred = weight * x  # 1-2: predict
                # 3: squared-error loss. tf.square, not `** 2`: TensorFlow's pow
                # is a general exp/log routine that misrounds many squares.
                loss = tf.square(pred - y_true)
            grad = tape.gradient(loss, weight)  # 4: slope of loss w.r.t. weight
            weight.assign_sub(lr * grad)  # 4: step downhill
            trajectory.record(loss, grad, weight)
        return trajectory.read()


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; tf.reduce_mean reduces each batch."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        weight = tf.Variable(problem.w0, dtype=problem.dtype)
        bias = None if problem.b0 is None else tf.Variable(problem.b0, dtype=problem.dtype)  # as Keras's Dense(1)
        parameters = [weight] if bias is None else [weight, bias]
        lr = problem.lr
        trajectory = TFRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                xb, yb = x[batch], y_true[batch]
                with tf.GradientTape() as tape:
                    pred = weight * xb if bias is None else weight * xb + bias  # 1-2: predict
                    loss = tf.reduce_mean(tf.square(pred - yb))  # 3: mean squared error
                grads = tape.gradient(loss, parameters)  # 4: slope of loss w.r.t. each parameter
                for parameter, grad in zip(parameters, grads):
                    parameter.assign_sub(lr * grad)  # 4: step downhill
                bias_grad = None if bias is None else grads[1]
                trajectory.record(loss, grads[0], weight, bias_grad, bias)
        return trajectory.read()


def network(problem, device="cpu", data=None):
    """A hidden layer; the tape records the forward pass and tape.gradient does the backpropagation."""
    x, y_true = prepare(problem, device) if data is None else data
    with tf.device(tf_device(device)):
        parameters = [tf.Variable(value, dtype=problem.dtype) for value in problem.layers]  # W1: 1 x H, W2: H x 1
        w1, b1, w2, b2 = parameters
        activation = tf.nn.relu if problem.activation == "relu" else tf.tanh
        lr = problem.lr
        trajectory = TFRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                xb, yb = tf.reshape(x[batch], (-1, 1)), tf.reshape(y_true[batch], (-1, 1))
                with tf.GradientTape() as tape:
                    h = activation(xb @ w1 + b1)  # 1: the hidden layer
                    pred = h @ w2 + b2  # 2: predict
                    loss = tf.reduce_mean(tf.square(pred - yb))  # 3: mean squared error
                grads = tape.gradient(loss, parameters)  # 4: backpropagation
                for parameter, grad in zip(parameters, grads):
                    parameter.assign_sub(lr * grad)  # 4: every parameter steps downhill
                trajectory.record_layers(loss, grads, parameters)
        return trajectory.read()


def cross_entropy(logits, labels, from_logits):
    """3: the mean cross-entropy from the logits, or Keras's way from softmax probabilities clipped to 1e-7."""
    if from_logits:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    p = tf.clip_by_value(tf.nn.softmax(logits), 1e-7, 1 - 1e-7)
    return -tf.reduce_mean(tf.math.log(tf.gather(p, labels, axis=1, batch_dims=1)))


def classifier(problem, device="cpu", data=None):
    """The next lesson's network; tape.gradient does the backpropagation, a tf.keras optimizer takes the step."""
    keras = keras_on_tensorflow()
    x, y = prepare(problem, device) if data is None else data
    labels = tf.cast(y, tf.int64)  # the labels as integers, to pick each image's p[label]
    floatx = keras.config.floatx()
    keras.config.set_floatx(problem.dtype)  # a Keras optimizer holds its learning rate in floatx (float32 by default)
    try:
        with tf.device(tf_device(device)):
            parameters = [tf.Variable(value, dtype=problem.dtype) for value in problem.layers]  # W1: inputs x H, ...
            w1, b1, w2, b2 = parameters
            if problem.optimizer == "adam":  # Keras adds epsilon to sqrt(v), before the bias correction
                b = dict(beta_1=problem.beta_1, beta_2=problem.beta_2, epsilon=problem.epsilon)
                optimizer = keras.optimizers.Adam(learning_rate=problem.lr, **b)
            else:
                optimizer = keras.optimizers.SGD(learning_rate=problem.lr)
            trajectory = TFRecorder(problem)
            for epoch in range(problem.epochs):
                for batch in problem.batches:
                    with tf.GradientTape() as tape:
                        h = tf.nn.relu(x[batch] @ w1 + b1)  # 1: the hidden layer
                        logits = h @ w2 + b2  # 2: the ten scores
                        loss = cross_entropy(logits, labels[batch], problem.from_logits)  # 3
                    grads = tape.gradient(loss, parameters)  # 4: backpropagation
                    optimizer.apply_gradients(zip(grads, parameters))  # 4: SGD's or Adam's step downhill
                    trajectory.record_layers(loss, grads, parameters)
            return trajectory.read()
    finally:
        keras.config.set_floatx(floatx)


def keras_on_tensorflow():
    """Keras 3, for its optimizers (what a GradientTape loop steps with): on TensorFlow, whatever this process says."""
    import os
    import sys

    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"  # only for this process's Keras; a Keras row has its own
    import keras

    if keras.backend.backend() != "tensorflow":
        from bridge.errors import FrameworkMissing

        raise FrameworkMissing(
            f"tf_tape's optimizers need Keras on TensorFlow; this process runs it on {keras.backend.backend()}"
        )
    return keras
