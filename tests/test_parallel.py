"""Data-parallel rows: the single-process trajectory within the derived bound, their engine's combine rule
replayed bit for bit, uneven splits trained as one process would, and planted bugs that reach the workers.

Every run starts a fresh launcher (bridge.runners.launcher) and its workers: nothing here forks this process, and no
device count or process group is left behind in it. The default run covers one preset per row; the full
matrix (presets x dtypes x workers) runs with DESCENT_STRESS=1.
"""

import functools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge import parallel
from bridge.claims import claim_for
from bridge.compare import compare
from bridge.floats import rounder, same_bits
from bridge.problems import with_changes
from bridge.replay import check_shares, check_world, replay
from bridge.runners.launcher import launch
from tests.helpers import PARALLEL, STRESS, impl_params, stress

ROOT = Path(__file__).resolve().parent.parent
ROWS = impl_params(PARALLEL, parallel=True)
REPLAYED = [p for p in ROWS if not bridge.REGISTRY[p.values[0]].combine.unreplayed]
ONE_PRESET = {
    "torch_ddp": "mini_batch",
    "jax_sharded": "bias",
    "tf_mirrored": "full_batch",
    "keras_data_parallel": "mini_batch",
}
# 5 samples in batches of 4 and 1, with a bias: 2 workers get shares of 2 and 2, then 1 and none
SMALL = bridge.Batched(
    [0.5, -1.5, 2.0, 1.0, -0.25], [2.0, -1.0, 5.0, 3.5, 0.5], w0=0.25, lr=0.1, epochs=3, batch_size=4, b0=0.5
)


@functools.cache
def _run(name, problem, workers, source=None):
    trajectory = launch(bridge.REGISTRY[name], problem, "cpu", workers, source)
    trajectory.implementation, trajectory.dtype = name, problem.dtype
    return trajectory


@functools.cache
def _reference(problem):
    return bridge.train("python", problem)


def check(name, problem, workers=2, source=None, preset=None):
    """The row against the reference; a failure names the row and how to rerun it."""
    claim = claim_for(name, problem, "cpu", workers)
    verdict = compare(problem, _reference(problem), _run(name, problem, workers, source), claim)
    again = f"bridge.train({name!r}, p, workers={workers}) with p = {problem!r}"
    if preset is not None:
        again = f"descent compare --impl python {name} --problem {preset} --dtype {problem.dtype} --workers {workers}"
    assert verdict.conforms, f"{name}: {verdict.summary()}; reproduce: {again}"
    return verdict


@pytest.mark.parametrize("name", ROWS)
def test_conforms_on_one_preset_and_is_parallel(name):
    problem = bridge.preset(ONE_PRESET[name])
    verdict = check(name, problem, preset=ONE_PRESET[name])
    world = _run(name, problem, 2).world
    assert (world["world_size"], world["devices"]) == (2, 2), world  # reported by the workers themselves
    expected = "not replayed" if bridge.REGISTRY[name].combine.unreplayed else "bitwise against its replay"
    assert verdict.replay.startswith(expected), verdict.replay


@pytest.mark.parametrize("name", ROWS)
def test_a_batch_smaller_than_the_workers_trains_as_one_process(name):
    # the last batch has one sample for 2 workers: one share is empty (torch's mean of it would be NaN),
    # and where an engine pads, the padded sample has an error of b, unless the mask zeroes it
    trajectory = _run(name, SMALL, 2)
    assert all(map(math.isfinite, trajectory.losses + trajectory.weights + trajectory.biases))
    check(name, SMALL)


@pytest.mark.parametrize("name", REPLAYED)
def test_the_combine_rule_at_three_workers_is_found_and_discriminating(name):
    # The experiment behind each row's combine rule (Row.combine): of the 15 rules an all-reduce of 3 could follow
    # (1/N applied to each gradient, to the sum, or not at all, as a product by fl(1/N) or a division; the 3
    # association orders), which reproduce every recorded gradient. Exactly one must, and it must be the row's: then
    # every other rule gave other bits at some step of this data, so the data tells them apart.
    problem = bridge.preset("mini_batch", "float32")
    trajectory = _run(name, problem, 3)
    fl = rounder(problem.dtype)
    scalings = {
        "none": (lambda g: g, lambda t: t),
        "each times fl(1/N)": (lambda g: [fl(v * fl(1 / 3)) for v in g], lambda t: t),
        "each divided by N": (lambda g: [fl(v / 3) for v in g], lambda t: t),
        "the sum times fl(1/N)": (lambda g: g, lambda t: fl(t * fl(1 / 3))),
        "the sum divided by N": (lambda g: g, lambda t: fl(t / 3)),
    }
    orders = [(0, 1, 2), (0, 2, 1), (1, 2, 0)]  # (a + b) + c; any other is one of these, as a + b == b + a

    def combined(local, scale, order):
        before, after = scalings[scale]
        terms = before(local)
        return after(fl(fl(terms[order[0]] + terms[order[1]]) + terms[order[2]]))

    steps = list(zip(trajectory.local_grads, trajectory.grads))
    found = {
        (scale, order)
        for scale in scalings
        for order in orders
        if all(same_bits(combined(local, scale, order), g) for local, g in steps)
    }
    rule = bridge.REGISTRY[name].combine
    claimed = ("each times fl(1/N)" if rule.reciprocal else "none", rule.order(3))
    assert found == {claimed}, f"{name} at 3 workers follows {found or 'none of the 15 rules'}, not {claimed}"
    # the loss's shares are added in the same order, never scaled: they already make the batch's mean
    assert all(
        same_bits(combined(local, "none", claimed[1]), loss)
        for local, loss in zip(trajectory.local_losses, trajectory.losses)
    )
    verdict = check(name, problem, 3)  # and compare replays it: bitwise, at 3 workers too
    assert verdict.replay.startswith("bitwise against its replay") and "(observed;" in verdict.replay


def test_the_replay_rule_is_what_compare_uses():
    # two workers: each rule in plain Python, against hand-worked numbers
    assert replay(bridge.REGISTRY["torch_ddp"].combine, [3.0, 5.0], "float64") == 4.0  # 3 * 0.5 + 5 * 0.5
    assert replay(bridge.REGISTRY["jax_sharded"].combine, [3.0, 5.0], "float64") == 8.0
    third = rounder("float32")(1 / 3)
    assert replay(bridge.REGISTRY["torch_ddp"].combine, [1.0, 1.0, 1.0], "float32") == rounder("float32")(
        third + rounder("float32")(2 * third)
    )


def test_a_run_on_one_device_cannot_pass_as_parallel():
    problem = bridge.preset("mini_batch")
    run = _run("jax_sharded", problem, 2)
    alone = bridge.Trajectory(run.weights, run.losses, run.grads, implementation="jax_sharded")
    alone.local_grads, alone.workers, alone.world = run.local_grads, 2, dict(run.world, devices=1)
    verdict = compare(problem, _reference(problem), alone, claim_for("jax_sharded", problem))
    assert not verdict.conforms and "1 devices" in verdict.reason


def test_a_gradient_that_is_not_its_replay_fails():
    problem = bridge.preset("mini_batch")
    run = _run("jax_sharded", problem, 2)
    local = [list(row) for row in run.local_grads]
    local[3][1] = math.nextafter(local[3][1], math.inf)  # one worker's gradient one ULP away at step 3
    changed = bridge.Trajectory(run.weights, run.losses, run.grads, implementation="jax_sharded")
    changed.local_grads, changed.local_losses, changed.workers, changed.world = local, run.local_losses, 2, run.world
    verdict = compare(problem, _reference(problem), changed, claim_for("jax_sharded", problem))
    assert not verdict.conforms and verdict.failure.step == 3 and "replay" in verdict.reason


# ---- each engine's default behaviour on uneven shards, and how the rows avoid it ----


def test_torch_mean_of_an_empty_share_is_nan_and_its_sum_is_zero():
    torch = pytest.importorskip("torch")
    empty = torch.empty(0, dtype=torch.float64)
    assert math.isnan(empty.mean().item())  # what a per-worker mean would give a worker with no sample
    assert (empty.sum() / 4).item() == 0.0  # impl/torch_ddp.py: its share of the batch's mean


def _fresh(code, env):
    """Run code in a fresh interpreter with env added: device counts never enter this process."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=os.environ | env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_jax_sharding_refuses_unequal_shards():
    pytest.importorskip("jax")
    code = (
        "import jax, numpy as np\n"
        "from jax.sharding import Mesh, NamedSharding, PartitionSpec as P\n"
        "mesh = Mesh(np.array(jax.devices()), ('workers',))\n"
        "try:\n"
        "    jax.device_put(np.arange(3.0), NamedSharding(mesh, P('workers')))\n"
        "except ValueError as error:\n"
        "    print('refused', len(jax.devices()))\n"
    )
    assert _fresh(code, {"JAX_NUM_CPU_DEVICES": "2"}) == "refused 2"  # hence impl/jax_sharded.py pads


def test_keras_data_parallel_refuses_a_batch_that_does_not_divide():
    pytest.importorskip("keras")
    code = (
        "import keras, numpy as np\n"
        "keras.distribution.set_distribution(keras.distribution.DataParallel())\n"
        "model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "try:\n"
        "    model.fit(np.ones((3, 1)), np.ones((3, 1)), batch_size=3, verbose=0)\n"
        "    print('trained')\n"
        "except ValueError as error:\n"
        "    print('refused')\n"
    )
    assert _fresh(code, {"JAX_NUM_CPU_DEVICES": "2", "KERAS_BACKEND": "jax"}) == "refused"  # hence the padding


# ---- planted bugs, written into a copy of the source that the launcher and its workers import ----

PLANTED = {
    ("torch_ddp", "mean of local means"): [  # each worker's own mean, which DDP then averages
        (
            "xb, yb, n = x[mine], y_true[mine], batch.stop - batch.start",
            "xb, yb, n = x[mine], y_true[mine], len(x[mine])",
        ),
        ("(share * workers).backward()", "share.backward()"),
    ],
    ("torch_ddp", "gradient N times too large"): [
        ("(share * workers).backward()", "(share * workers * workers).backward()"),
    ],
    ("tf_mirrored", "mean of local means"): [  # TensorFlow's default: this replica's size times N divides
        ("tf.square(pred - yb), global_batch_size=n)", "tf.square(pred - yb))"),
    ],
    ("jax_sharded", "gradient N times too large"): [  # the trap: the replicated parameter's gradient, summed twice
        ('mine = jax.lax.pcast(parameters, AXIS, to="varying")', "mine = parameters"),
    ],
    ("jax_sharded", "gradient N times too small"): [  # pmean divides the sum by N: the shares already make the mean
        ("grads = jax.lax.psum(local, AXIS)", "grads = jax.lax.pmean(local, AXIS)"),
    ],
    ("jax_sharded", "a padded sample that counts"): [
        ("error = (pred - y_true) * real", "error = pred - y_true"),
    ],
    ("keras_data_parallel", "a padded sample that counts"): [  # Keras's default: the batch's length divides
        ('REDUCTION = "mean_with_sample_weight"', 'REDUCTION = "sum_over_batch_size"'),
    ],
    # worker 0 given the whole batch and the others nothing: the all-reduce still makes the right gradient, so
    # only each worker's own gradient, checked against its own share (bridge.replay.check_shares), can tell
    ("torch_ddp", "one worker does all the work"): [
        ("mine = shards(batch, workers)[rank]", "mine = batch if rank == 0 else slice(batch.start, batch.start)"),
    ],
    ("tf_mirrored", "one worker does all the work"): [
        ("split = shards(batch, workers)", "split = [batch] + [slice(batch.start, batch.start)] * (workers - 1)"),
    ],
    ("jax_sharded", "one worker does all the work"): [
        ("size = padded_size(batch, workers)", "size = batch.stop - batch.start"),
        (
            "for k, shard in enumerate(shards(batch, workers)):",
            "for k, shard in enumerate([batch] + [slice(batch.start, batch.start)] * (workers - 1)):",
        ),
    ],
    # every device given the whole batch (the data's layout replicated, P() for P('batch')): the compiled step
    # then needs no all-reduce and makes the same gradient; the layout it received shows it (LayoutWatch)
    ("keras_data_parallel", "every device trains on the whole batch"): [
        (
            "keras.distribution.set_distribution(distribution)",
            "distribution.get_data_layout = lambda shape: keras.distribution.TensorLayout("
            "[None] * len(shape), distribution.device_mesh)\n"
            "    keras.distribution.set_distribution(distribution)",
        ),
    ],
}
BUG_PROBLEM = {"mean of local means": bridge.preset("mini_batch"), "gradient N times too large": bridge.preset("bias")}
BUG_PROBLEM["gradient N times too small"] = bridge.preset("bias")
BUG_PROBLEM["a padded sample that counts"] = SMALL
BUG_PROBLEM["one worker does all the work"] = bridge.preset("bias")
BUG_PROBLEM["every device trains on the whole batch"] = bridge.preset("bias")


def planted(tmp_path_factory, name, replacements) -> Path:
    """A copy of bridge/ and impl/ with the bug written into impl/<name>.py."""
    copy = tmp_path_factory.mktemp(name)
    for folder in ("bridge", "impl"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    source = copy / "impl" / f"{name}.py"
    text = source.read_text()
    for old, new in replacements:
        assert old in text, f"the bug's target is gone from impl/{name}.py: {old!r}"
        text = text.replace(old, new)
    source.write_text(text)
    return copy


@pytest.mark.parametrize("name, bug", PLANTED, ids=[f"{n}-{b.replace(' ', '_')}" for n, b in PLANTED])
def test_planted_bug_fails(tmp_path_factory, name, bug):
    if not bridge.REGISTRY[name].installed():
        pytest.skip(bridge.REGISTRY[name].install_hint())
    problem = BUG_PROBLEM[bug]
    copy = planted(tmp_path_factory, name, PLANTED[name, bug])
    verdict = compare(problem, _reference(problem), _run(name, problem, 2, str(copy)), claim_for(name, problem))
    assert not verdict.conforms, f"{name} with {bug!r} planted still conforms: {verdict.summary()}"
    if bug in ("one worker does all the work", "every device trains on the whole batch"):
        # caught at once by both checks, each alone: what worker 0 says it held, and the gradient it computed
        assert verdict.summary().startswith("MISMATCH at step 0: worker 0 "), verdict.summary()
        trajectory, claim = _run(name, problem, 2, str(copy)), claim_for(name, problem)
        assert "worker 0 " in check_world(problem, trajectory) and "its own shares hold" in check_world(
            problem, trajectory
        )
        deviation, reason = check_shares(problem, trajectory, claim.combine, claim.departure.precision)
        assert deviation.step == 0 and reason.startswith("worker 0's loss at step 0 is "), reason  # its share first


PADDED_WITH_DATA = {  # the padded samples given data of their own: zeroed through their error, it cannot matter
    "jax_sharded": [
        (
            "x, y_true, real = (np.zeros(workers * size, problem.dtype) for _ in range(3))",
            "x, y_true, real = (np.full(workers * size, v, problem.dtype) for v in (7.0, -3.0, 0.0))",
        )
    ],
    "keras_data_parallel": [
        ("x += [*problem.x[shard], *[0.0] * pad]", "x += [*problem.x[shard], *[7.0] * pad]"),
        ("y += [*problem.y[shard], *[0.0] * pad]", "y += [*problem.y[shard], *[-3.0] * pad]"),
    ],
}


@pytest.mark.parametrize("name", [p for p in ROWS if p.values[0] in PADDED_WITH_DATA])
def test_padding_changes_nothing(tmp_path_factory, name):
    copy = planted(tmp_path_factory, name, PADDED_WITH_DATA[name])
    padded, plain = _run(name, SMALL, 2, str(copy)), _run(name, SMALL, 2)
    assert len(plain) == SMALL.updates
    for q in ("losses", "grads", "weights", "biases", "bias_grads"):
        assert all(map(same_bits, getattr(padded, q), getattr(plain, q))), f"{name}: padding's data changed the {q}"


@pytest.mark.parametrize("name", ROWS)
def test_no_update_is_still_a_parallel_run(name):
    problem = with_changes(SMALL, epochs=0)
    verdict = check(name, problem)
    assert _run(name, problem, 2).world["devices"] == 2 and verdict.status == "bitwise"


# ---- the full matrix: every batched preset, both dtypes, 2 and 3 workers ----

MATRIX = [
    pytest.param(p.values[0], preset, dtype, workers, marks=[*p.marks, stress], id=f"{p.id}-{preset}-{dtype}-{workers}")
    for p in ROWS
    for preset in ("mini_batch", "bias", "full_batch")
    for dtype in ("float64", "float32")
    for workers in (2, 3)
]


@pytest.mark.parametrize("name, preset, dtype, workers", MATRIX)
def test_matrix(name, preset, dtype, workers):
    verdict = check(name, bridge.preset(preset, dtype), workers, preset=preset)
    rule = bridge.REGISTRY[name].combine
    if not rule.unreplayed and rule.order(workers) is not None:
        assert verdict.replay.startswith("bitwise against its replay"), verdict.replay
    else:
        assert verdict.replay.startswith("not replayed"), verdict.replay
    assert STRESS


# ---- the API and the CLI: refusals in one line, before anything starts ----


@pytest.mark.parametrize("workers", [0, -1, parallel.MAX_WORKERS + 1, 2.0, True, "2", None, 10**30])
def test_bad_worker_counts_are_refused_before_anything_starts(workers):
    with pytest.raises(bridge.InvalidProblem, match="workers must be"):
        bridge.train("torch_ddp", bridge.preset("mini_batch"), workers=workers)


@pytest.mark.parametrize("name", PARALLEL)
@pytest.mark.parametrize("preset", ["lesson", "mlp"])
def test_other_loops_are_refused_in_one_line(name, preset):
    with pytest.raises(bridge.InvalidProblem, match=f"^{name} runs the batched loop only"):
        bridge.train(name, bridge.preset(preset))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--impl", "torch_ddp"], "torch_ddp runs the batched loop only (data-parallel); this is a one-weight"),
        (["compare", "--problem", "mini_batch", "--workers", "0"], "--workers must be from 1 to 8, got 0"),
        (["run", "--impl", "jax_sharded", "--problem", "bias", "--workers", "two"], "--workers must be a whole number"),
        (["compare", "--impl", "tf_mirrored", "--problem", "bias", "--workers", "9"], "--workers must be from 1 to 8"),
        (["compare", "--impl", "torch_ddp", "--problem", "bias", "--device", "cuda"], "not available to torch"),
        (["compare", "--impl", "jax_sharded", "--problem", "bias", "--device", "gpu"], "not available to JAX"),
        (["grads", "--impl", "torch_ddp", "--problem", "bias"], "torch_ddp is data-parallel"),
    ],
)
def test_cli_refusals(argv, message, capsys):
    from bridge.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_compare_on_a_batched_problem_runs_the_four_rows_and_on_the_lesson_none():
    from bridge.cli.parser import build, problem_of
    from bridge.training import rows_to_run

    for preset, expected in (("mini_batch", set(PARALLEL)), ("lesson", set()), ("mlp", set())):
        args = build().parse_args(["compare", "--problem", preset])
        names, _ = rows_to_run(args.impl, args.device, problem_of(args))
        installed = {n for n in expected if bridge.REGISTRY[n].installed()}
        assert set(names) & set(PARALLEL) == installed, preset


def test_run_json_carries_the_workers_gradients_and_world(capsys):
    import json

    from bridge.cli import main

    if not bridge.REGISTRY["jax_sharded"].installed():
        pytest.skip(bridge.REGISTRY["jax_sharded"].install_hint())
    assert main(["run", "--impl", "jax_sharded", "--problem", "bias", "--workers", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workers"] == 3 and data["world"]["world_size"] == 3 and data["world"]["devices"] == 3
    assert len(data["local_grads"]) == len(data["losses"]) and all(len(row) == 3 for row in data["local_grads"])
    assert len(data["local_bias_grads"][0]) == 3
    # what each device reported holding: the bias preset's batches of 32, 32 and 26 samples, split 11+11+10 and 9+9+8
    seen = [(s["worker"], s["on"], s["samples"]) for s in data["world"]["seen"]]
    assert seen == [(0, "cpu:0", [11, 11, 9]), (1, "cpu:1", [11, 11, 9]), (2, "cpu:2", [10, 10, 8])]
