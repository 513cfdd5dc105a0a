"""The network's views tell the truth: its loss over all the data per epoch, grads by layer, and plot's pictures."""

import json
import math
import os
import re

import numpy as np
import pytest

import bridge
from bridge.cli import main
from bridge.problems import with_changes

MLP = bridge.PRESETS["mlp"]


def mse_over_all(problem, w1, b1, w2, b2) -> float:
    """Written out here, not taken from the code under test: relu(x w1 + b1) . w2 + b2, squared error, mean."""
    total = 0.0
    for x, y in zip(problem.x.tolist(), problem.y.tolist()):
        hidden = [max(x * w + b, 0.0) for w, b in zip(w1, b1)]
        total += (sum(h * w for h, w in zip(hidden, w2)) + b2 - y) ** 2
    return total / problem.x.size


def test_run_prints_the_networks_loss_over_all_the_data_once_per_epoch(capsys):
    assert main(["run", "--problem", "mlp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    losses = [line for line in lines if "loss=" in line]
    assert len(losses) == MLP.epochs + 1, "one line before training, one after each epoch: not one per update"
    start = mse_over_all(MLP, MLP.w1.tolist(), MLP.b1.tolist(), MLP.w2.tolist(), float(MLP.b2))
    assert losses[0] == f"start     loss={start:.3g}" and losses[0].endswith("0.643")
    trained = bridge.train("python", MLP).parameters
    end = mse_over_all(MLP, *(trained[name][-1] for name in ("W1", "b1", "W2")), trained["b2"][-1][0])
    assert losses[-1] == f"epoch {MLP.epochs}  loss={end:.3g}" and losses[-1].endswith("0.000131")
    assert "--json" in lines[1], "the per-update losses are one flag away"


def test_on_full_batches_the_loss_over_all_data_is_the_next_steps_loss():
    """With one batch per epoch, the loss before update k is the loss over all the data after epoch k."""
    problem = with_changes(MLP, batch_size=MLP.x.size, epochs=12)
    trajectory = bridge.train("python", problem)
    over_all = problem.epoch_losses(trajectory.parameters)
    assert len(over_all) == problem.epochs + 1
    for step, loss in enumerate(trajectory.losses):  # summed left to right by the loop, pairwise by NumPy
        assert math.isclose(over_all[step], loss, rel_tol=1e-14), step


def test_compare_reports_the_final_loss_over_all_the_data_and_json_keeps_each_epoch(capsys):
    assert main(["compare", "--problem", "mlp", "--impl", "python", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "final loss, all data" in out
    assert main(["compare", "--problem", "mlp", "--impl", "python", "numpy", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    for row in rows:
        assert len(row["epoch_losses"]) == MLP.epochs + 1 and row["epoch_losses"][0] == pytest.approx(0.643, abs=5e-4)
        assert repr(row["epoch_losses"][-1]) in out, "the table's number is the last epoch's"
        assert row["final_loss"] != row["epoch_losses"][-1], "final_loss stays the last update's, one sample's"


def _grads(capsys, *extra):
    assert main(["grads", "--problem", "mlp", "--epochs", "1", "--impl", "torch_autograd", "jax_grad", *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_grads_shows_each_layers_largest_entry_and_counts_what_its_cells_say(capsys):
    lines = _grads(capsys)
    assert any("backpropagated by hand" in line for line in lines[:4]) and "autograd" not in lines[0]
    problem = with_changes(MLP, epochs=1)
    hand = bridge.train("python", problem).gradients
    table = [line.split() for line in lines if re.match(r"\s+\d+\s+(W1|b1|W2|b2)", line)]
    assert len(table) == 4 * problem.updates, "one line per layer and step"
    same = {"torch_autograd": set(range(problem.updates)), "jax_grad": set(range(problem.updates))}
    for step, entry, value, *cells in table:
        layer, index = (entry.split("[")[0], int(entry.split("[")[1][:-1])) if "[" in entry else (entry, 0)
        values = hand[layer][int(step)]
        assert abs(float(value)) == max(abs(v) for v in values) and float(value) == values[index]
        words = " ".join(cells).replace("same bits", "same_bits").replace("equal, ±0", "equal±0").split()
        for name, word in zip(same, words):
            if word != "same_bits":
                same[name].discard(int(step))
    for name, steps in same.items():
        assert f"{name}: {len(steps)} of {problem.updates} steps the same bits in every layer" in "\n".join(lines)


def test_grads_all_shows_every_entry(capsys):
    lines = _grads(capsys, "--all")
    rows = [line for line in lines if re.match(r"\s+0\s+(W1|b1|W2|b2)", line)]
    assert len(rows) == 3 * MLP.hidden + 1


def test_plot_files_get_the_users_umask(tmp_path):
    pytest.importorskip("matplotlib")
    for mask, mode in ((0o022, 0o644), (0o077, 0o600)):
        previous = os.umask(mask)
        try:
            assert main(["plot", "--output", str(tmp_path / f"{mode:o}.png")]) == 0
        finally:
            os.umask(previous)
        assert os.stat(tmp_path / f"{mode:o}.png").st_mode & 0o777 == mode


def test_plot_trains_the_reference_and_the_rows_asked_and_draws_no_panel_twice(tmp_path):
    pytest.importorskip("matplotlib")
    from bridge.plotting import plot

    calls = []

    def run(name, problem):
        calls.append((name, problem.lr))
        return bridge.train(name, problem)

    said = []
    plot(bridge.PRESETS["lesson"], ["python", "numpy"], tmp_path / "l.png", "lesson", run, said.append)
    assert calls == [("python", 0.1), ("numpy", 0.1), ("python", 0.01), ("python", 0.9)], "lr 0.1 is drawn once"
    assert said[0] == "training python on lesson…" and said[-1] == "drawing l.png…"


def test_the_cli_plot_trains_only_the_reference_unless_asked(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import bridge.cli.commands as commands

    trained = []
    monkeypatch.setattr(
        commands, "train", lambda name, problem, device: trained.append(name) or bridge.train(name, problem)
    )
    assert main(["plot", "--output", str(tmp_path / "l.png")]) == 0
    assert set(trained) == {"python"}


def test_a_valley_cut_short_says_where_the_run_went():
    from bridge.plotting import _where_it_went

    overshoot = bridge.train("python", bridge.PRESETS["overshoot"])
    last = 2 - 2 * (1 - 2 * 0.9 * 1.5**2) ** 20  # the lesson's closed form: w_k = 2 - 2 (1 - 2 lr x^2)^k
    assert _where_it_went(overshoot, 4) == f"the first 4 of 20 steps; by the last, weight = {last:.3g}"
    explode = bridge.train("python", bridge.PRESETS["explode"])
    blown = next(k for k, v in enumerate(explode.losses) if not math.isfinite(v))
    assert _where_it_went(explode, 4) == f"the first 4 steps; the loss is inf or NaN from step {blown}"
    assert np.isfinite(explode.losses[blown - 1])
