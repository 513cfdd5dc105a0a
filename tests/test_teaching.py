"""The teaching views: grads, plot, show, practice, and divergence said plainly."""

import ast
import json
import re

import pytest

import bridge
from bridge.cli import main
from bridge.teaching.parity import autograd_rows
from bridge.teaching.sources import loop_source, show
from tests.helpers import impl_params, png_size

VIEW_PRESETS = ["lesson", "overshoot", "crawl", "mini_batch"]


@pytest.mark.parametrize("preset", VIEW_PRESETS)
def test_grads_shows_every_step_with_parity(preset, capsys):
    assert main(["grads", "--problem", preset, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    problem = bridge.preset(preset)
    assert len(data["rows"]) == problem.updates
    reference = bridge.train("python", problem)
    assert [row["hand"] for row in data["rows"]] == reference.grads
    for row in data["rows"]:
        for name, cell in row["autograd"].items():
            if isinstance(problem, bridge.OneWeight):
                assert cell["exact"], (name, row["step"])  # the chain rule multiplies as the hand formula does
            assert cell["exact"] == (cell["grad"] == row["hand"]) or cell["ulps"] == 0


def test_grads_table_names_each_autograd_and_says_same_bits(capsys):
    assert main(["grads"]) == 0
    out = capsys.readouterr().out.splitlines()
    installed = [n for n in autograd_rows() if bridge.REGISTRY[n].installed()]
    header = out.index(next(line for line in out if line.startswith("step")))
    assert all(f"{n} (autodiff)" in out[header - 1] for n in installed), "against: each row and how it finds it"
    assert all(n in out[header] for n in installed)
    first = out[header + 1]
    assert first.split()[:2] == ["0", "-9.0"] and first.split("-9.0")[1].split() == ["same", "bits"] * len(installed)
    for k, name in enumerate(installed):
        assert out[header + 21 + k] == f"{name}: 20 of 20 steps the same bits."


def test_grads_compares_at_the_same_weight_on_batched_problems(capsys):
    assert main(["grads", "--problem", "mini_batch", "--impl", "python_autograd", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    # at the reference's weight the only difference left is 1/n and the summation order: a few ULP at most
    assert max(row["autograd"]["python_autograd"]["ulps"] for row in rows) <= 4


@pytest.mark.parametrize("preset", VIEW_PRESETS)
def test_plot_writes_a_real_png_of_the_expected_size(preset, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output = tmp_path / f"{preset}.png"
    assert main(["plot", "--problem", preset, "--impl", "python", "numpy", "--output", str(output)]) == 0
    assert png_size(output) == (1600, 1000)
    assert capsys.readouterr().out == f"wrote {output} (1600 x 1000 pixels)\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(output)
    assert pixels.shape[:2] == (1000, 1600)
    assert pixels.std() > 0.05, "an image with something drawn on it, not a blank canvas"
    assert (pixels[..., :3].max(axis=-1) - pixels[..., :3].min(axis=-1)).max() > 0.5, "coloured markers present"


def test_plot_refuses_a_file_that_is_not_png(tmp_path, capsys):
    assert main(["plot", "--impl", "python", "--output", str(tmp_path / "chart.jpg")]) == 2
    assert "--output must name a .png file" in capsys.readouterr().err
    assert not (tmp_path / "chart.jpg").exists()


@pytest.mark.parametrize("name", bridge.IMPLEMENTATIONS)
def test_show_takes_each_loop_from_its_source_file(name):
    path = bridge.REGISTRY[name].module.replace(".", "/") + ".py"
    file_lines = open(path, encoding="utf-8").read().splitlines()
    row = bridge.REGISTRY[name]
    for loop in [n for n in ("one_weight", "batched") if n in row.loops]:
        function = row.worker_loop if row.rank_loop else loop  # a process per worker: the loop each one runs
        lines = loop_source(name, function)
        assert all(line in file_lines for line in lines), "every line shown is a line of the file, unedited"
        source = "\n".join(lines)
        assert f"def {function}(" in source
        for step in ("# 1-", "# 4: step downhill"):
            assert step in source, (name, loop, step)


def test_show_side_by_side_aligns_the_lessons_steps():
    text = show(["python", "torch_manual"], side_by_side=True, width=100).splitlines()
    markers = [i for i, line in enumerate(text) if "---- step" in line]
    assert len(markers) == 3
    for i in markers:
        left, right = text[i].split(" │ ")
        assert left.strip() == right.strip()
    step_4 = text[markers[2] + 1]
    assert "# 4: slope" in step_4.split(" │ ")[0] and "# 4: slope" in step_4.split(" │ ")[1]


def test_show_command_prints_each_source_once_naming_every_row(capsys):
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    for name in bridge.IMPLEMENTATIONS:
        assert name in "".join(line for line in out.splitlines() if line.startswith("==> ")), name
    assert out.count("impl/keras.py") == 1, "the three Keras backends share one file: printed once"
    assert "==> keras_tensorflow, keras_jax, keras_torch (impl/keras.py) <==" in out


LESSON_LINES = [  # the lesson's loop, as the student typed it (DESIGN.md), in the reference's words
    "        pred = weight * x  # 1-2: predict",
    "        error = pred - y_true",
    "        loss = error * error",
    "        grad = 2 * error * x  # 4: slope of loss w.r.t. weight",
    "        weight = weight - lr * grad  # 4: step downhill",
]


def test_show_gives_the_reference_as_the_lesson_wrote_it_and_full_gives_the_file():
    lesson = loop_source("python", "one_weight", full=False)
    body = [line for line in lesson if line.startswith("        ") and not line.lstrip().startswith("#")]
    assert body == LESSON_LINES, "no r(...) rounding, no trajectory: the lesson's own lines, in order"
    full = "\n".join(loop_source("python", "one_weight", full=True))
    assert "pred = r(weight * x)" in full and "trajectory.record(loss, grad, weight)" in full


@pytest.mark.parametrize("name", bridge.IMPLEMENTATIONS)
def test_the_lesson_view_is_python_without_plumbing(name):
    row = bridge.REGISTRY[name]
    for loop in row.loops or (row.worker_loop,):
        function = loop if loop in row.loops and not row.rank_loop else row.worker_loop
        lines = loop_source(name, function, full=False)
        ast.parse("\n".join(lines))  # still Python: nothing half-removed
        code = "\n".join(line.split("  #")[0] for line in lines if not line.lstrip().startswith(("#", '"""')))
        for plumbing in ("trajectory", "Trajectory", "Recorder(", ".record(", " r(", "(r("):
            assert plumbing not in code, (name, loop, plumbing)
        assert re.search(r"# 4: .*(downhill|step)", "\n".join(lines)) and "lr" in code, (name, loop)


def test_the_keras_view_is_sequential_compile_and_fit():
    text = show(["keras_jax"])
    assert text.splitlines()[1].startswith("def build(")
    for shown in ("keras.Sequential(", "keras.layers.Dense(", "model.compile(", 'loss="mse"', "model.fit("):
        assert shown in text, shown
    for hidden in ("def build_network", "BatchLoss", "Recorder", "keras_recording"):
        assert hidden not in text, hidden


@pytest.mark.parametrize("names", [["python", "torch_autograd"], ["python", "numpy", "jax_grad"], ["torch_ddp"]])
def test_side_by_side_fits_a_100_column_screen_and_cuts_nothing(names, capsys):
    assert main(["show", "--side-by-side", "--impl", *names]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "…" not in "\n".join(out.splitlines()[2:]), "long lines are folded, not cut"


@pytest.mark.parametrize("name", impl_params())
def test_practice_answers_match_the_lesson(name, capsys):
    assert main(["practice", "--impl", name]) == 0
    out = capsys.readouterr().out
    assert out.count("(the code agrees)") == 5 and "WRONG" not in out


def test_run_says_where_it_diverged_and_names_the_learning_rate(capsys):
    assert main(["run", "--impl", "python", "--problem", "explode"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("diverged: at step 318 the loss became inf; the weight became nan at step 636")
    assert "multiplies the error by -3.05" in last and "learning rate is the first dial to check" in last


def test_compare_says_where_it_diverged(capsys):
    assert main(["compare", "--problem", "explode", "--impl", "python", "numpy"]) == 0
    assert "diverged: at step 318 the loss became inf" in capsys.readouterr().out


def test_converging_run_prints_only_the_lessons_lines(capsys):
    assert main(["run", "--impl", "python"]) == 0
    assert all(line.startswith("step ") for line in capsys.readouterr().out.splitlines())
    # overshoot climbs to a loss of 2.278e+19 in 20 steps, never inf: said from the start, once, not silent
    assert main(["run", "--impl", "python", "--problem", "overshoot"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("note: each step multiplies the distance") and len(lines) == 21
