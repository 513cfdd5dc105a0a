"""Problems are validated on construction: one clear message per kind of bad input."""

import math

import numpy as np
import pytest

import bridge
from bridge.errors import InvalidProblem

GOOD = dict(x=1.5, y=3.0, w0=0.0, lr=0.1, steps=20)
BATCH = dict(x=[1.0, 2.0, 3.0], y=[2.0, 4.0, 6.0], w0=0.0, lr=0.1, epochs=2, batch_size=2)

BAD_ONE_WEIGHT = [
    (dict(x="abc"), "x must be a real number, got 'abc'"),
    (dict(y=None), "y must be a real number, got None"),
    (dict(w0=True), "w0 must be a real number, got True"),
    (dict(lr=[0.1]), "lr must be a real number, got [0.1]"),
    (dict(x=math.nan), "x must be finite, got nan"),
    (dict(y=math.inf), "y must be finite, got inf"),
    (dict(w0=-math.inf), "w0 must be finite, got -inf"),
    (dict(lr=math.nan), "lr must be finite, got nan"),
    (dict(steps=-1), "steps must be >= 0, got -1"),
    (dict(steps=1.5), "steps must be a whole number, got 1.5"),
    (dict(dtype="float16"), "dtype must be one of float64, float32, got 'float16'"),
    (dict(x=1e39, dtype="float32"), "x=1e+39 overflows float32"),
]


@pytest.mark.parametrize("change, message", BAD_ONE_WEIGHT, ids=[m for _, m in BAD_ONE_WEIGHT])
def test_bad_one_weight_problem_is_refused(change, message):
    with pytest.raises(InvalidProblem) as error:
        bridge.OneWeight(**(GOOD | change))
    assert str(error.value) == message


BAD_BATCHED = [
    (dict(x=[1.0, 2.0]), "x and y must have the same length, got 2 and 3"),
    (dict(x=[], y=[]), "x must not be empty"),
    (dict(x=[1.0, math.nan, 3.0]), "x[1] must be finite, got nan"),
    (dict(y=[1.0, 2.0, math.inf]), "y[2] must be finite, got inf"),
    (dict(x=[1.0, "a", 3.0]), "x must be a sequence of real numbers"),
    (dict(x="abc"), "x must be a sequence of numbers, got 'abc'"),
    (dict(x=[[1.0], [2.0], [3.0]]), "x must be one-dimensional, got shape (3, 1)"),
    (dict(epochs=-1), "epochs must be >= 0, got -1"),
    (dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (dict(batch_size=2.5), "batch_size must be a whole number, got 2.5"),
    (dict(lr="fast"), "lr must be a real number, got 'fast'"),
    (dict(y=[1.0, 2.0, 1e39], dtype="float32"), "y[2]=1e+39 overflows float32"),
    (dict(b0=math.nan), "b0 must be finite, got nan"),
    (dict(b0=True), "b0 must be a real number, got True"),
    (dict(b0="zero"), "b0 must be a real number, got 'zero'"),
    (dict(b0=1e39, dtype="float32"), "b0=1e+39 overflows float32"),
]


@pytest.mark.parametrize("change, message", BAD_BATCHED, ids=[m for _, m in BAD_BATCHED])
def test_bad_batched_problem_is_refused(change, message):
    with pytest.raises(InvalidProblem) as error:
        bridge.Batched(**(BATCH | change))
    assert str(error.value) == message


def test_values_are_rounded_to_the_dtype_once():
    problem = bridge.OneWeight(**(GOOD | dict(lr=0.1, dtype="float32")))
    assert problem.lr == float(np.float32(0.1)) != 0.1
    batched = bridge.Batched(**(BATCH | dict(x=[0.1, 0.2, 0.3], dtype="float32")))
    assert batched.x.dtype == np.float32


def test_problems_are_immutable_and_own_their_data():
    data = [1.0, 2.0, 3.0]
    problem = bridge.Batched(**(BATCH | dict(x=data)))
    data[0] = 99.0
    assert problem.x[0] == 1.0
    with pytest.raises(ValueError):
        problem.x[0] = 5.0
    with pytest.raises(AttributeError):
        problem.lr = 1.0
    with pytest.raises(AttributeError):
        bridge.PRESETS["lesson"].lr = 0.9
    with pytest.raises(TypeError):
        bridge.PRESETS["mine"] = bridge.PRESETS["lesson"]


def test_batches_are_consecutive_slices_with_a_short_last_one():
    problem = bridge.PRESETS["mini_batch"]
    sizes = [b.stop - b.start for b in problem.batches]
    assert sizes == [25, 25, 25, 15]
    assert [b.start for b in problem.batches] == [0, 25, 50, 75]
    assert problem.updates == 4 * 4


def test_batch_size_beyond_the_data_means_one_batch():
    assert bridge.Batched(**(BATCH | dict(batch_size=10**9))).batches == (slice(0, 3),)


def test_presets_match_the_lesson():
    lesson = bridge.PRESETS["lesson"]
    assert (lesson.x, lesson.y, lesson.w0, lesson.lr, lesson.steps) == (1.5, 3.0, 0.0, 0.1, 20)
    assert bridge.PRESETS["overshoot"].lr == 0.9 and bridge.PRESETS["crawl"].lr == 0.01
    practice = bridge.PRESETS["practice"]
    assert (practice.x, practice.y, practice.w0, practice.lr, practice.steps) == (2.0, 6.0, 1.0, 0.1, 1)
    assert bridge.PRESETS["full_batch"].batches == (slice(0, 50),)


def test_batched_presets_are_built_from_a_fixed_seed():
    # the data comes from random.Random(seed), whose float stream Python keeps stable
    import random

    rng = random.Random(2026)
    assert bridge.PRESETS["full_batch"].x[0] == rng.uniform(-2.0, 2.0)


def test_unknown_preset_names_the_choices():
    with pytest.raises(bridge.UnknownName, match="unknown problem 'valley'; choose one of: lesson, overshoot"):
        bridge.preset("valley")


def test_unknown_implementation_names_the_choices():
    with pytest.raises(bridge.UnknownName) as error:
        bridge.train("keras", bridge.PRESETS["lesson"])
    assert str(error.value) == (
        "unknown implementation 'keras'; choose one of: python, numpy, torch_manual, python_autograd, torch_autograd, "
        "tf_tape, jax_grad, tf_function, torch_compile, jax_jit, keras_tensorflow, keras_jax, keras_torch, "
        "torch_ddp, jax_sharded, tf_mirrored, keras_data_parallel"
    )


def test_train_refuses_what_is_not_a_problem():
    with pytest.raises(TypeError, match="bridge.OneWeight, Batched, Network or Classifier"):
        bridge.train("python", {"x": 1.5})


def test_a_bias_is_optional_and_rounded_like_the_weight():
    without = bridge.Batched(**BATCH)
    assert without.b0 is None and not without.has_bias
    with_bias = bridge.Batched(**(BATCH | dict(b0=0.1, dtype="float32")))
    assert with_bias.has_bias and with_bias.b0 == bridge.floats.to_float32(0.1)
    assert "b0=" in repr(with_bias) and "b0=" not in repr(without)
    assert bridge.problems.with_changes(without, b0=-0.5).b0 == -0.5
    assert bridge.problems.with_changes(with_bias, b0=None).has_bias is False


def test_the_bias_preset_is_keras_dense_shaped():
    problem = bridge.PRESETS["bias"]
    assert problem.has_bias and problem.b0 == 0.0
    assert [b.stop - b.start for b in problem.batches] == [32, 32, 26]
    assert [p for p in bridge.PRESETS.values() if p.has_bias] == [problem]
