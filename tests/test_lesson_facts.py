"""The lesson's facts, checked against arithmetic done here, not by the code under test."""

import math
from fractions import Fraction

import pytest

import bridge
from tests.helpers import FLOAT64_EXACT, impl_params

U = 2.0**-53  # float64 unit roundoff


@pytest.mark.parametrize("name", impl_params())
def test_step_0_prints_weight_0_900_and_loss_9_000(name):
    trajectory = bridge.train(name, bridge.PRESETS["lesson"])
    # by hand: pred = 0 * 1.5 = 0; loss = (0 - 3)^2 = 9; grad = 2 * -3 * 1.5 = -9; w = 0 - 0.1 * -9 = 0.9
    assert trajectory.losses[0] == 9.0
    assert trajectory.grads[0] == -9.0
    assert trajectory.weights[0] == 0.9  # 0.1 * -9 rounds to -0.9 exactly as the literal 0.9 does
    assert f"weight={trajectory.weights[0]:.3f}  loss={trajectory.losses[0]:.3f}" == "weight=0.900  loss=9.000"


def closed_form(rate: float, k: int) -> float:
    """w_k = 2 - 2 * (1 - 2 * lr * x^2)^k for x = 1.5, y = 3, w0 = 0 (the lesson's recurrence solved)."""
    return 2 - 2 * (1 - 2 * Fraction(rate) * Fraction(9, 4)) ** k


@pytest.mark.parametrize("name", impl_params(FLOAT64_EXACT))
def test_lesson_weight_follows_the_closed_form(name):
    weights = bridge.train(name, bridge.PRESETS["lesson"]).weights
    # Each step rounds 5 times (pred, error, *x, lr*grad, w - ...), each by at most
    # u * 4 here (|w|, |grad| <= 4 after scaling); the factor 0.55 damps old errors,
    # so the total stays below 5 * 4u / (1 - 0.55). lr is the float nearest 0.1,
    # which the exact recurrence (Fraction(0.1)) already uses.
    bound = 5 * 4 * U / (1 - 0.55)
    for k, weight in enumerate(weights, start=1):
        assert abs(weight - closed_form(0.1, k)) <= bound, k
        assert abs(closed_form(0.1, k) - (2 - 2 * Fraction(55, 100) ** k)) < 1e-15  # lr 0.1 vs float 0.1


@pytest.mark.parametrize("name", impl_params(FLOAT64_EXACT))
def test_crawl_reaches_about_1_2_after_20_steps(name):
    weight = bridge.train(name, bridge.PRESETS["crawl"]).weights[-1]
    assert round(weight, 1) == 1.2
    assert abs(weight - closed_form(0.01, 20)) <= 5 * 4 * U / (1 - 0.955)


@pytest.mark.parametrize("name", impl_params(FLOAT64_EXACT))
def test_overshoot_error_grows_by_minus_3_05_per_step(name):
    weights = bridge.train(name, bridge.PRESETS["overshoot"]).weights
    errors = [w - 2.0 for w in [0.0, *weights]]
    for before, after in zip(errors, errors[1:]):
        assert after / before == pytest.approx(1 - 2 * 0.9 * 1.5**2, rel=1e-9)  # -3.05; rounding is ~1e-16
    assert all(a * b < 0 for a, b in zip(errors, errors[1:])), "overshoot flips side every step"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explode_reaches_inf_then_nan(dtype):
    trajectory = bridge.train("python", bridge.preset("explode", dtype))
    step = trajectory.first_non_finite()
    # before step k the error is pred - y = 1.5 * (w_k - 2) = 3 * (-3.05)^k in size, and
    # its square, the loss, is the first number to pass the largest finite value
    log_largest = (1024 if dtype == "float64" else 128) * math.log(2)
    expected = math.ceil((log_largest / 2 - math.log(3)) / math.log(3.05))
    assert abs(step - expected) <= 1
    assert trajectory.losses[step] == math.inf
    assert math.isnan(trajectory.weights[-1])


@pytest.mark.parametrize("name", impl_params())
def test_practice_prediction_5_truth_8_gives_loss_9(name):
    # weight 5 on input 1 predicts 5; (5 - 8)^2 = 9
    assert bridge.train(name, bridge.OneWeight(x=1.0, y=8.0, w0=5.0, lr=0.1, steps=1)).losses[0] == 9.0


@pytest.mark.parametrize("name", impl_params())
def test_practice_step_gives_gradient_minus_16_and_weight_2_6(name):
    trajectory = bridge.train(name, bridge.PRESETS["practice"])
    # pred = 1 * 2 = 2; grad = 2 * (2 - 6) * 2 = -16; new weight = 1 - 0.1 * -16 = 2.6
    assert trajectory.grads[0] == -16.0
    exact = 1 - Fraction(0.1) * -16  # two roundings away from the float result at most
    assert abs(trajectory.weights[0] - exact) <= 2 * U * 2.6
    assert f"{trajectory.weights[0]:.3f}" == "2.600"
    assert trajectory.losses[0] == 16.0


def exact_bias_run(x, y, w, b, lr, steps):
    """Full-batch descent on w x + b, in Fractions: losses, grads, weights, bias grads, biases."""
    x, y, n = [Fraction(v) for v in x], [Fraction(v) for v in y], len(x)
    rows = []
    for _ in range(steps):
        errors = [w * xi + b - yi for xi, yi in zip(x, y)]
        loss = sum(e * e for e in errors) / n
        grad, bias_grad = sum(2 * e * xi for e, xi in zip(errors, x)) / n, sum(2 * e for e in errors) / n
        w, b = w - lr * grad, b - lr * bias_grad
        rows.append((loss, grad, w, bias_grad, b))
    return rows


@pytest.mark.parametrize("name", impl_params())
def test_weight_and_bias_match_exact_arithmetic_on_exact_data(name):
    # y = 2x + 1 on four small integers, lr 1/16: every value is a short binary fraction,
    # so float64 holds each exactly and every implementation must give exactly these numbers.
    x, y = [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0]
    problem = bridge.Batched(x, y, w0=0.0, b0=0.0, lr=0.0625, epochs=4, batch_size=4)
    trajectory = bridge.train(name, problem)
    got = list(zip(trajectory.losses, trajectory.grads, trajectory.weights, trajectory.bias_grads, trajectory.biases))
    assert got == exact_bias_run(x, y, Fraction(0), Fraction(0), Fraction(1, 16), 4)
