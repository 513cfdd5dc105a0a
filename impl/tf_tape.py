"""The lesson's loop in TensorFlow eager mode, with the gradient from tf.GradientTape."""

import tensorflow as tf

from bridge import Trajectory
from bridge.devices import tf_device


def one_weight(problem, device="cpu"):
    """Train one weight held in a tf.Variable."""
    with tf.device(tf_device(device)):
        x = tf.constant(problem.x, dtype=problem.dtype)
        y_true = tf.constant(problem.y, dtype=problem.dtype)
        weight = tf.Variable(problem.w0, dtype=problem.dtype)
        lr = problem.lr  # a Python float: TensorFlow converts it to the weight's dtype
        trajectory = Trajectory()
        for step in range(problem.steps):
            with tf.GradientTape() as tape:  # records the forward pass
                pred = weight * x  # 1-2: predict
                # 3: squared-error loss. tf.square, not `** 2`: TensorFlow's pow
                # is a general exp/log routine that misrounds many squares.
                loss = tf.square(pred - y_true)
            grad = tape.gradient(loss, weight)  # 4: slope of loss w.r.t. weight
            weight.assign_sub(lr * grad)  # 4: step downhill
            trajectory.record(loss, grad, weight)
    return trajectory


def batched(problem, device="cpu"):
    """Mini-batch gradient descent; tf.reduce_mean reduces each batch."""
    with tf.device(tf_device(device)):
        x = tf.constant(problem.x)  # the problem's arrays already hold its dtype
        y_true = tf.constant(problem.y)
        weight = tf.Variable(problem.w0, dtype=problem.dtype)
        bias = None if problem.b0 is None else tf.Variable(problem.b0, dtype=problem.dtype)  # as Keras's Dense(1)
        parameters = [weight] if bias is None else [weight, bias]
        lr = problem.lr
        trajectory = Trajectory()
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
    return trajectory
