"""The next lesson's classifier (issue 21): the problem and its refusals, the reference checked independently,
every row's conformance, Adam's epsilon and the clip at 1e-7 shown as traps with a measured case each."""

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge
from bridge.claims import reference_problem
from bridge.cli import main
from bridge.compare import claim_for, compare
from bridge.images import Images
from bridge.problems import with_changes
from bridge.teaching.notes import same_predictions
from tests.helpers import (
    REFERENCE,
    STRESS,
    impl_params,
    png_size,
    reference_run,
    stress,
    train,
    verdict_of,
)

CLASSIFYING = [name for name, row in bridge.REGISTRY.items() if "classifier" in row.loops]
QUICK = [name for name in CLASSIFYING if "classifier" not in bridge.REGISTRY[name].slow_loops]
# the full tier's: the eager rows whose runs take milliseconds a step (numpy and torch); the rest in stress
EAGER = [n for n in QUICK if bridge.REGISTRY[n].exp_log in ("numpy", "torch") and not bridge.REGISTRY[n].compiled]


def rows(names=CLASSIFYING, slow=pytest.mark.slow):
    """One param per row; a row whose classifier is slow (Row.slow_loops) marked `slow` (or as given)."""
    return [
        pytest.param(*p.values, marks=[*p.marks, *([] if p.values[0] in QUICK else [slow])], id=p.id)
        for p in impl_params(names)
    ]


DTYPES = ["float64", "float32"]
PRESETS = ["digits", "digits_adam"]


def small(preset="digits", dtype="float64", **changes):
    """The preset on its first 250 training images for one epoch: 8 updates (the last batch 26 images, a shorter
    one as the preset's is), every row in the fast tier."""
    return with_changes(bridge.preset(preset, dtype), train_size=250, epochs=1, **changes)


def one_epoch(preset="digits", dtype="float64"):
    """The preset's first epoch over all 1,437 training images: 45 updates (the full tier)."""
    return with_changes(bridge.preset(preset, dtype), epochs=1)


# ---- the problem ----


def test_the_presets_are_the_next_lessons_network_on_the_bundled_digits():
    sgd, adam = bridge.PRESETS["digits"], bridge.PRESETS["digits_adam"]
    assert sgd.inputs == 64 and len(sgd.labels) == 1437 and len(sgd.images.y_test) == 360
    assert (sgd.optimizer, adam.optimizer) == ("sgd", "adam")
    # Keras's Adam defaults (keras.optimizers.Adam): lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7
    assert (adam.lr, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert sgd.from_logits and not sgd.epsilon_hat  # the paper's Adam, the loss from logits, by default
    assert sgd.sizes == {"W1": 64 * 16, "b1": 16, "W2": 16 * 10, "b2": 10}


def test_the_start_is_keras_glorot_uniform_drawn_once_from_pythons_generator():
    problem = bridge.PRESETS["digits"]
    rng = random.Random(problem.seed)  # drawn here again, independently: W1 first, then W2
    limit_1, limit_2 = math.sqrt(6 / (64 + 16)), math.sqrt(6 / (16 + 10))
    assert problem.w1.tolist() == [rng.uniform(-limit_1, limit_1) for _ in range(64 * 16)]
    assert problem.w2.tolist() == [rng.uniform(-limit_2, limit_2) for _ in range(16 * 10)]
    assert not problem.b1.any() and not problem.b2.any()  # zero biases, as Keras starts them


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"hidden": 0}, "hidden must be >= 1, got 0"),
        ({"hidden": 10**9}, "hidden must be <= 4096"),
        ({"batch_size": 1438}, "batch_size must be <= the 1437 training images, got 1438"),
        ({"lr": math.inf}, "lr must be finite, got inf"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, got 'rmsprop'"),
        ({"beta_2": 1.0}, "beta_2 must be in [0, 1), got 1.0"),
        ({"epsilon": 0.0}, "epsilon must be > 0, got 0.0"),
        ({"train_size": 5000}, "train_size must be <= the 1437 training images, got 5000"),
    ],
)
def test_a_bad_classifier_is_refused_in_one_line(changes, says):
    with pytest.raises(bridge.InvalidProblem, match=re_escape(says)):
        with_changes(bridge.PRESETS["digits"], **changes)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--hidden", "0"], "hidden must be >= 1, got 0"),
        (["--hidden", "1000000000"], "hidden must be <= 4096"),
        (["--batch-size", "5000"], "batch_size must be <= the 1437 training images"),
        (["--lr", "inf"], "lr must be finite, got inf"),
        (["--optimizer", "rmsprop"], "optimizer must be one of sgd, adam"),
        (["--data", "no/such/mnist.npz"], "no such file or folder"),
    ],
)
def test_the_cli_refuses_a_bad_classifier_in_one_line_and_writes_nothing(argv, says, capsys, tmp_path):
    out = tmp_path / "plot.png"
    for command in (["run"], ["compare", "--impl", "python", "numpy"], ["plot", "--output", str(out)]):
        assert main([*command, "--problem", "digits", *argv]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_an_override_for_another_kind_of_problem_is_refused(capsys):
    assert main(["run", "--problem", "lesson", "--optimizer", "adam"]) == 2
    assert "--optimizer does not apply to 'lesson', a one-weight problem" in capsys.readouterr().err
    assert main(["run", "--problem", "mlp", "--data", "x.npz"]) == 2
    assert "--data does not apply to 'mlp', a network problem" in capsys.readouterr().err


# ---- the reference, checked by a computation written here (not by the code under test) ----


def test_the_first_loss_and_gradients_are_the_textbook_softmax_cross_entropy():
    problem = small()
    trajectory = bridge.train(REFERENCE, problem)
    x, y = problem.x[problem.batches[0]].astype(np.float64), problem.labels[problem.batches[0]]
    w1, b1, w2, b2 = (np.asarray(v, dtype=np.float64) for v in problem.layers)
    z = x @ w1 + b1
    h = np.maximum(z, 0)
    logits = h @ w2 + b2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # no shift needed: these logits are small
    onehot = np.eye(10)[y]
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    d_logits = (p - onehot) / len(y)
    d_z = (d_logits @ w2.T) * (z > 0)
    expected = {"W1": x.T @ d_z, "b1": d_z.sum(0), "W2": h.T @ d_logits, "b2": d_logits.sum(0)}
    assert trajectory.losses[0] == pytest.approx(loss, rel=1e-13)
    for name, grad in expected.items():
        np.testing.assert_allclose(trajectory.gradients[name][0], grad.ravel(), rtol=1e-10, atol=1e-16)


def test_adams_first_step_moves_each_weight_by_about_lr():
    # Kingma and Ba, section 2.1: the first step is lr * g / (|g| + epsilon): lr, for a gradient well above epsilon
    problem = small("digits_adam")
    trajectory = bridge.train(REFERENCE, problem)
    before, after = problem.w1, np.asarray(trajectory.parameters["W1"][0])
    grad = np.asarray(trajectory.gradients["W1"][0])
    large = np.abs(grad) > 1e-3
    assert large.sum() > 100
    np.testing.assert_allclose(np.abs(after - before)[large], problem.lr, rtol=1e-3)
    assert (np.sign(before - after)[large] == np.sign(grad[large])).all(), "downhill"
    assert (after == before)[grad == 0].all()


def test_the_loss_falls_and_the_test_accuracy_climbs_over_the_presets():
    trajectory = bridge.train(REFERENCE, bridge.PRESETS["digits"])
    scores = bridge.PRESETS["digits"].epoch_scores(trajectory.parameters)
    assert scores[0]["test_accuracy"] < 0.2 < 0.75 < scores[-1]["test_accuracy"]
    assert [s["train_loss"] for s in scores] == sorted((s["train_loss"] for s in scores), reverse=True)


# ---- every row on the reference's path ----


# Every tier: SGD in float64 and Adam in float32 for every row; the stress profile: the other two as well (the
# whole-epoch test below runs all four there)
CASES = [
    pytest.param(preset, dtype, marks=[] if (preset, dtype) in FAST else [stress], id=f"{preset}-{dtype}")
    for FAST in [{("digits", "float64"), ("digits_adam", "float32")}]
    for preset in PRESETS
    for dtype in DTYPES
]


@pytest.mark.parametrize(("preset", "dtype"), CASES)
@pytest.mark.parametrize("name", rows(slow=stress))  # python_autograd: 10 s a run; its predictions run --full
def test_every_row_walks_the_references_path(name, preset, dtype):
    verdict = verdict_of(name, small(preset, dtype))
    assert verdict.conforms, f"{name}: {verdict.summary()}"
    assert verdict.compared_steps is None, verdict.summary()


@stress  # every row for 45 updates in each case: minutes (the full tier runs 8 updates of each, above)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", rows())
def test_every_row_walks_the_references_path_for_a_whole_epoch(name, preset, dtype):
    verdict = verdict_of(name, one_epoch(preset, dtype))
    assert verdict.conforms, f"{name}: {verdict.summary()}; reproduce: descent compare --impl {name} " + (
        f"--problem {preset} --epochs 1 --dtype {dtype}"
    )
    assert verdict.compared_steps is None, verdict.summary()


@pytest.mark.slow  # each row run again for its predictions: --full for numpy, torch and python_autograd (its one
# full-tier run); the others' in stress
@pytest.mark.parametrize(
    "name",
    [
        p
        if p.values[0] in EAGER or not bridge.REGISTRY[p.values[0]].autodiff
        else pytest.param(*p.values, marks=[*p.marks, stress], id=p.id)
        for p in rows()
    ],
)
def test_every_row_predicts_the_references_class_for_every_test_image(name):
    problem = small()
    trained = {n: bridge.train(n, problem) if n != name else train(n, problem) for n in (REFERENCE, name)}
    predictions = {n: problem.predictions(problem.final(t.parameters)) for n, t in trained.items()}
    lines, differ = same_predictions(problem, predictions, REFERENCE)
    assert differ[name] == [], lines
    assert lines == ["every row predicts the same class for each of the 360 test images"]


def test_a_row_that_predicts_another_class_is_listed_with_both_margins():
    problem = small()
    classes, margins = problem.predictions(problem.final(bridge.train(REFERENCE, problem).parameters))
    changed = classes.copy()
    changed[7] = (classes[7] + 1) % 10
    lines, differ = same_predictions(problem, {"python": (classes, margins), "x": (changed, margins)}, "python")
    assert differ["x"] == [
        {"image": 7, "reference": int(classes[7]), "predicted": int(changed[7]), "margins": [margins[7], margins[7]]}
    ]
    assert lines[0].startswith(f"x predicts another class for 1 of 360 test images: image 7: {changed[7]} where")


# ---- Adam's epsilon: where each row adds it, and the default, each a trap with a measured case ----


@pytest.mark.parametrize("name", impl_params(["tf_tape"]))
def test_keras_adam_departs_from_the_papers_and_the_reference_moved_to_epsilon_hat_reproduces_it(name):
    problem = small("digits_adam", "float32")
    run = train(name, problem)
    held_as_paper = compare(problem, reference_run(problem), run, claim_for("torch_autograd", problem))
    assert not held_as_paper.conforms, "Keras's Adam should not walk the paper's path"
    moved = reference_problem(name, problem)
    assert moved.epsilon_hat and not problem.epsilon_hat
    verdict = compare(moved, reference_run(moved), run, claim_for(name, problem))
    assert verdict.conforms and verdict.compared_steps is None, verdict.summary()


@pytest.mark.parametrize("epsilon_hat", [False, True])
def test_a_hand_row_follows_the_problems_epsilon_either_way(epsilon_hat):
    problem = small("digits_adam", epsilon_hat=epsilon_hat)
    assert reference_problem("numpy", problem) is problem
    assert verdict_of("numpy", problem).conforms


def test_the_two_epsilons_give_different_numbers():
    paper, hat = (bridge.train(REFERENCE, small("digits_adam", epsilon_hat=e)) for e in (False, True))
    moved = np.abs(np.asarray(paper.parameters["W1"][-1]) - np.asarray(hat.parameters["W1"][-1]))
    assert moved.max() > 1e-6, "epsilon's place changed nothing visible"


@pytest.mark.parametrize("name", impl_params(["torch_autograd"]))
def test_torchs_default_epsilon_changes_the_numbers(name):
    # torch.optim.Adam's eps defaults to 1e-8, Keras's to 1e-7: a port that keeps torch's default departs
    keras_default = small("digits_adam")
    torch_default = with_changes(keras_default, epsilon=1e-8)
    verdict = compare(
        keras_default, reference_run(keras_default), train(name, torch_default), claim_for(name, keras_default)
    )
    assert not verdict.conforms, "epsilon 1e-8 should not pass for 1e-7"


# ---- the clip at 1e-7: Keras's loss from probabilities ----


def confident_and_wrong(**changes):
    """The small problem with W2 scaled up 40 times: the start is so sure of itself that some labels get p < 1e-7."""
    problem = small(**changes)
    return with_changes(problem, w1=problem.w1, b1=problem.b1, w2=problem.w2 * 40, b2=problem.b2)


def test_the_clip_caps_the_loss_and_stops_the_gradient_where_p_is_below_1e_7():
    logits, probabilities = (bridge.train(REFERENCE, confident_and_wrong(from_logits=f)) for f in (True, False))
    assert probabilities.losses[0] < logits.losses[0], "the clip should hold the loss down"
    assert max(probabilities.losses) <= -math.log(1e-7) + 1e-9  # each sample's -log p at most 16.118
    assert not np.allclose(logits.gradients["W2"][0], probabilities.gradients["W2"][0])


@pytest.mark.parametrize("name", impl_params(["numpy", "torch_manual"]))
def test_a_hand_row_on_the_probabilities_path_walks_the_references(name):
    verdict = verdict_of(name, confident_and_wrong(from_logits=False))
    assert verdict.conforms, verdict.summary()


# ---- Keras, as the next lesson writes it ----

KERAS = [name for name, row in bridge.REGISTRY.items() if row.backend and "classifier" in row.loops]


def test_the_keras_view_is_sequential_dense_compile_fit_and_evaluate():
    from bridge.teaching.sources import show

    text = show(["keras_tensorflow"], "classifier")
    for shown in (
        "keras.Sequential(",
        'keras.layers.Dense(problem.hidden, activation="relu"',
        "keras.layers.Dense(10",
        "SparseCategoricalCrossentropy(from_logits=problem.from_logits)",
        'metrics = ["accuracy"]',
        "model.compile(",
        "model.fit(",
        "shuffle=False",
        "model.evaluate(",
    ):
        assert shown in text, shown
    for plumbing in ("Recorder", "BatchLoss", "trajectory", "RecordingAdam"):
        assert plumbing not in text, plumbing


@pytest.mark.parametrize("name", impl_params(KERAS))
def test_keras_evaluate_agrees_with_the_test_accuracy_of_its_own_parameters(name):
    problem = small()
    run = train(name, problem)
    loss, accuracy = problem.scores(problem.final(run.parameters), problem.images.x_test, problem.images.y_test)
    assert run.evaluation["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)  # Keras's mean in float32
    assert run.evaluation["test_loss"] == pytest.approx(loss, rel=1e-6)


@pytest.mark.slow  # two Keras workers: --full
@pytest.mark.process
@pytest.mark.parametrize(("backend", "narrows"), [("jax", False), ("torch", True)])
def test_keras_float64_promotion_on_the_classifier_is_measured_per_backend(backend, narrows):
    # keras_jax keeps its classifier in float64 (its lesson loops' "mse" mean is what narrows); keras_torch does not
    name = f"keras_{backend}"
    if not bridge.REGISTRY[name].installed():
        pytest.skip(bridge.REGISTRY[name].install_hint())
    from bridge.runners import keras_worker

    problem, row = small(), bridge.REGISTRY[name]
    promoted, kept = (keras_worker.submit(row, problem, "cpu", keep_float64=k)() for k in (False, True))
    same = np.array_equal(promoted.network_rows().view(np.int64), kept.network_rows().view(np.int64))
    assert same is not narrows
    assert ("classifier" in row.narrows_in) is narrows, "the row's entry says where it narrows"


# ---- the views ----

TINY = ["--problem", "digits", "--train-size", "64", "--epochs", "1"]  # 2 updates


def test_compare_on_the_classifier_evaluates_each_row_and_checks_every_prediction(capsys):
    assert main(["compare", "--impl", "numpy", *TINY]) == 0  # the reference's predictions, asked for or not
    out = capsys.readouterr().out
    assert "test accuracy" in out and "every row predicts the same class for each of the 360 test images" in out
    assert main(["compare", "--impl", "python", "numpy", *TINY, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["problem"]["kind"] == "classifier" and found["problem"]["inputs"] == 64
    for row in found["rows"]:
        assert set(row["evaluate"]) == {"test_loss", "test_accuracy"} and row["predictions_differ"] == []
        assert len(row["epoch_scores"]) == 2  # before training, after the one epoch


def test_run_on_the_classifier_prints_loss_and_accuracy_per_epoch(capsys):
    assert main(["run", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == ["train", "loss", "train", "accuracy", "test", "loss", "test", "accuracy"]
    assert out[3].startswith("start") and out[4].startswith("epoch 1") and out[5].startswith("evaluate: test loss")


def test_plot_on_the_classifier_draws_curves_and_digits(tmp_path, capsys):
    out = tmp_path / "digits.png"
    assert main(["plot", *TINY, "--output", str(out)]) == 0
    assert png_size(out) == (1600, 1000)


def test_mnist_from_a_file_trains_every_quick_row_from_the_cli(tmp_path, capsys):
    # an MNIST-shaped file written here (60 training and 20 test images of 28 x 28 pixels): no download, ever
    rng = np.random.default_rng(21)
    arrays = {
        "x_train": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 60, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 20, dtype=np.uint8),
    }
    np.savez(tmp_path / "mnist.npz", **arrays)
    argv = ["--problem", "digits", "--data", str(tmp_path / "mnist.npz"), "--hidden", "4", "--batch-size", "20"]
    assert main(["run", *argv, "--epochs", "1"]) == 0
    assert "mnist (mnist.npz), 60 training images and 20 test images of 784 pixels" in capsys.readouterr().out
    assert main(["compare", "--impl", "python", "numpy", "torch_manual", *argv, "--epochs", "1", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["problem"]["inputs"] == 784 and found["conforms"]


# ---- random classifiers: the bound holds beyond the presets ----


@st.composite
def classifiers(draw):
    """A small classifier on random images: 1 to 24 of 1 to 9 pixels, 1 to 6 units, SGD or Adam, either dtype,
    learning rates from 0 to 50 (a diverging run too), pixels from 0 to 1, 1e-3 or all 0."""
    n, inputs = draw(st.integers(1, 24)), draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    pixels = rng.random((n + 5, inputs)) * draw(st.sampled_from([1.0, 1e-3, 0.0]))  # all zero too
    labels = rng.integers(0, 10, n + 5)
    images = Images("random", pixels[:n], labels[:n], pixels[n:], labels[n:])
    return bridge.Classifier(
        images,
        hidden=draw(st.integers(1, 6)),
        lr=draw(st.sampled_from([0.0, 1e-3, 0.1, 2.0, 50.0])),
        epochs=draw(st.integers(1, 2)),
        batch_size=draw(st.integers(max(1, n // 4), n)),  # at most 8 updates an epoch
        optimizer=draw(st.sampled_from(["sgd", "adam"])),
        epsilon=draw(st.sampled_from([1e-7, 1e-8, 1e-3])),
        epsilon_hat=draw(st.booleans()),
        from_logits=draw(st.booleans()),
        dtype=draw(st.sampled_from(DTYPES)),
        seed=seed,
    )


@pytest.mark.slow  # eager frameworks at 8 to 16 updates an example: --full; the compiled and Keras rows: stress
@pytest.mark.parametrize(
    "name",
    [
        p if p.values[0] in EAGER else pytest.param(*p.values, marks=[*p.marks, stress], id=p.id)
        for p in rows([n for n in QUICK if not bridge.REGISTRY[n].reference])
    ],
)
def test_a_random_classifier_meets_its_claim(name):
    drawn = settings().max_examples  # the profile's; beyond the stress profile, 8 at most

    @settings(max_examples=drawn if STRESS else min(drawn, 8))
    @given(problem=classifiers())
    def check(problem):
        verdict = verdict_of(name, problem)
        assert verdict.conforms, f"{name} on {problem!r}: {verdict.summary()}"

    check()


# ---- records per epoch: an MNIST-sized run within the memory budget ----


@pytest.mark.slow  # every row twice: --full
@pytest.mark.parametrize("name", rows(QUICK))
def test_records_per_epoch_keep_every_loss_and_each_epochs_last_layers_exactly(name):
    # 100 images in batches of 32 (the last of 4), 2 epochs: the device recorders, jax_jit's scan and Keras's callback
    every_update = with_changes(small("digits_adam", "float32"), train_size=100, epochs=2)
    per_epoch = with_changes(every_update, records="epoch")
    full, kept = bridge.train(name, every_update), bridge.train(name, per_epoch)
    assert per_epoch.layers_every == 4 and kept.layers_every == 4
    assert kept.losses == full.losses and len(kept.losses) == 8
    for layer in full.parameters:
        assert kept.parameters[layer] == full.parameters[layer][3::4], layer
        assert kept.gradients[layer] == full.gradients[layer][3::4], layer
    assert per_epoch.epoch_scores(kept.parameters) == every_update.epoch_scores(full.parameters)


def test_records_per_epoch_are_refused_by_compare_before_anything_runs(capsys):
    assert main(["compare", "--problem", "digits", "--records", "epoch"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "compare checks every update's" in err and "--records step" in err
    with pytest.raises(bridge.InvalidProblem, match="compare checks every update's"):
        problem = small(records="epoch")
        compare(problem, bridge.train(REFERENCE, problem), bridge.train("numpy", problem))


def test_run_with_records_per_epoch_prints_the_same_epochs(capsys):
    assert main(["run", "--problem", "digits", "--impl", "numpy", "--train-size", "250"]) == 0
    every_update = capsys.readouterr().out
    assert main(["run", "--problem", "digits", "--impl", "numpy", "--train-size", "250", "--records", "epoch"]) == 0
    assert capsys.readouterr().out == every_update
    assert main(["run", "--problem", "digits", "--records", "weekly"]) == 2
    assert capsys.readouterr().err.strip() == "descent: error: records must be one of step, epoch, got 'weekly'"


def test_a_loss_that_overflows_between_epochs_is_found_with_records_per_epoch():
    problem = with_changes(small(records="epoch"), train_size=100)
    trajectory = bridge.train("numpy", problem)
    trajectory.losses[1] = math.inf  # an update whose layers are not kept
    assert trajectory.first_non_finite() == 1


def test_an_mnist_sized_run_fits_the_budget_per_epoch_and_is_refused_per_step():
    from bridge import budget
    from bridge.images import synthetic

    images = synthetic(60_000, 784)
    mnist = bridge.Classifier(images, hidden=128, lr=0.001, epochs=3, batch_size=128, optimizer="adam", dtype="float32")
    for name in CLASSIFYING:
        cost = bridge.REGISTRY[name].cost
        assert budget.stored(cost, mnist) > 2 * budget.DEFAULT, name  # 469 updates of 203,541 values an epoch
        # every framework's rows fit; the pure-Python loops keep a Python float per pixel (hours an epoch anyway)
        fits = budget.stored(cost, with_changes(mnist, records="epoch")) <= budget.DEFAULT
        assert fits == bool(bridge.REGISTRY[name].framework), name
    with pytest.raises(budget.OverBudget, match=r"a run of numpy would store about .* over the memory budget"):
        bridge.train("numpy", mnist)
