"""The descent command: the lesson's lines, the compare table, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge.cli import main
from tests.helpers import FLOAT64_EXACT, PARALLEL, SINGLE_PROCESS, impl_params

ROOT = Path(__file__).resolve().parent.parent


def descent(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter, as a user would (python -m bridge == descent)."""
    code = f"{prelude}\nimport sys\nfrom bridge.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def lesson_lines(x=1.5, y_true=3.0, weight=0.0, lr=0.1, steps=20) -> list[str]:
    """The lesson's own loop, typed as the student types it."""
    lines = []
    for step in range(steps):
        pred = weight * x
        loss = (pred - y_true) ** 2
        grad = 2 * (pred - y_true) * x
        weight = weight - lr * grad
        lines.append(f"step {step:2d}  weight={weight:.3f}  loss={loss:.3f}")
    return lines


@pytest.mark.parametrize("name", impl_params(FLOAT64_EXACT))  # the others: tests/test_keras.py
def test_run_prints_exactly_the_lessons_lines(name, capsys):
    assert main(["run", "--impl", name]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == lesson_lines()
    assert out[0] == "step  0  weight=0.900  loss=9.000"


def test_run_overrides_replace_the_presets_numbers(capsys):
    assert main(["run", "--impl", "python", "--lr", "0.9", "--steps", "3", "--w0", "1", "--x", "2", "--y", "6"]) == 0
    note, *lines = capsys.readouterr().out.splitlines()
    assert lines == lesson_lines(x=2.0, y_true=6.0, weight=1.0, lr=0.9, steps=3)
    # 1 - 2 * 0.9 * 2^2 = -6.2, and the factor is -1 at lr = 1 / 2^2
    assert note.startswith("note: each step multiplies the distance to the bottom by -6.2;") and "below 0.25." in note


def test_run_json_gives_the_whole_trajectory(capsys):
    assert main(["run", "--impl", "numpy", "--problem", "mini_batch", "--dtype", "float32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = bridge.train("numpy", bridge.preset("mini_batch", "float32"))
    assert data["weights"] == expected.weights and data["losses"] == expected.losses
    assert data["grads"] == expected.grads
    assert (data["implementation"], data["dtype"], data["problem"]["kind"]) == ("numpy", "float32", "batched")


def test_run_json_is_strict_json_even_after_divergence(capsys):
    assert main(["run", "--impl", "python", "--problem", "explode", "--json"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert "inf" in data["losses"] and data["weights"][-1] == "nan"


def test_compare_conforms_on_the_lesson(capsys):
    names = [n for n in SINGLE_PROCESS if bridge.REGISTRY[n].installed()]  # the data-parallel rows: batched only
    assert main(["compare"]) == 0
    out = capsys.readouterr().out
    for name in names:
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        departure = bridge.compare.expected_departure(name, bridge.PRESETS["lesson"])
        departs = departure is not None and departure.reorders  # rounds differently at every step: fuses
        expected = "reference" if name == "python" else "agrees to" if departs else "same bits"
        assert (expected in row) if departs else row.endswith(expected), row
    assert out.splitlines()[-1].startswith(f"all {len(names)} walked the lesson's path: ")
    assert not any(line.startswith(PARALLEL) for line in out.splitlines())


def test_compare_json_reports_every_row(capsys):
    assert main(["compare", "--problem", "full_batch", "--impl", "python", "--impl", "numpy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["conforms"] is True
    numpy_row = data["rows"][1]
    assert numpy_row["detail"]["status"] == "bounded" and "pairwise" in numpy_row["detail"]["cause"]
    assert numpy_row["detail"]["worst"]["bound"] > 0


def test_compare_exits_1_and_says_how_to_reproduce_a_mismatch(monkeypatch, capsys):
    import impl.numpy

    real = impl.numpy.one_weight

    def off_by_one_ulp(problem, device="cpu", data=None):
        trajectory = real(problem, device, data)
        trajectory.weights[3] = float(__import__("numpy").nextafter(trajectory.weights[3], 10.0))
        return trajectory

    monkeypatch.setattr(impl.numpy, "one_weight", off_by_one_ulp)
    assert main(["compare", "--impl", "python", "--impl", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH at step 3" in out
    assert "reproduce: descent compare --impl numpy --problem lesson --dtype float64" in out


def test_list_shows_every_implementation(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in bridge.IMPLEMENTATIONS:
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


BAD_COMMANDS = [
    (["run", "--impl", "python", "--x", "abc"], "x must be a real number, got 'abc'"),
    (["run", "--impl", "python", "--lr", "nan"], "lr must be finite, got nan"),
    (["run", "--impl", "python", "--w0", "inf"], "w0 must be finite, got inf"),
    (["run", "--impl", "python", "--steps", "-1"], "steps must be >= 0, got -1"),
    (["run", "--impl", "python", "--problem", "mini_batch", "--epochs", "-2"], "epochs must be >= 0, got -2"),
    (["run", "--impl", "python", "--problem", "mini_batch", "--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["run", "--impl", "python", "--problem", "mini_batch", "--x", "1"], "--x does not apply to 'mini_batch'"),
    (["run", "--impl", "python", "--b0", "1"], "--b0 does not apply to 'lesson', a one-weight problem"),
    (["run", "--impl", "python", "--problem", "bias", "--b0", "nan"], "b0 must be finite, got nan"),
    (["run", "--impl", "python", "--dtype", "float16"], "dtype must be one of float64, float32, got 'float16'"),
    (["run", "--impl", "keras"], "unknown implementation 'keras'"),
    (["run", "--impl", "python", "--problem", "valley"], "unknown problem 'valley'"),
    (["compare", "--impl", "nope"], "unknown implementation 'nope'"),
    (["run", "--impl", "python", "--device", "cuda"], "python runs on the CPU only"),
    (["run", "--impl", "python", "--device", "tpu"], "unknown device 'tpu'"),
    # parsed at the edge: refused even where only CPU-only rows run, which would never use it
    (["compare", "--impl", "python", "numpy", "--device", "cuda:x"], "unknown device 'cuda:x'"),
    (["grads", "--impl", "numpy", "--device", "tpu"], "unknown device 'tpu'"),
    (["plot"], "the following arguments are required: --output"),
    (["fly"], "invalid choice: 'fly'"),
]


@pytest.mark.parametrize("argv, message", BAD_COMMANDS, ids=[m for _, m in BAD_COMMANDS])
def test_bad_input_is_one_line_exit_2_no_traceback(argv, message):
    result = descent(*argv)
    assert result.returncode == 2
    assert result.stdout == "", "nothing half-done"
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_api_raises_with_the_same_message():
    with pytest.raises(bridge.InvalidProblem, match=r"^x must be a real number, got 'abc'$"):
        bridge.OneWeight("abc", 3.0, 0.0, 0.1, 20)
    with pytest.raises(bridge.DeviceUnavailable, match=r"^python runs on the CPU only; drop --device cuda$"):
        bridge.train("python", bridge.PRESETS["lesson"], device="cuda")


BLOCK_TF = "import sys; sys.modules['tensorflow'] = None  # as if TensorFlow were not installed"


def test_missing_framework_names_the_extra_to_install():
    result = descent("run", "--impl", "tf_tape", prelude=BLOCK_TF)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "descent: error: tf_tape needs tensorflow, which is not installed: pip install 'descent-bridge[tensorflow]'"
    )


def test_missing_framework_raises_framework_missing_from_the_api():
    code = (
        f"{BLOCK_TF}\nimport bridge\ntry:\n    bridge.train('tf_tape', bridge.PRESETS['lesson'])\n"
        "except bridge.FrameworkMissing as e:\n    assert isinstance(e, ImportError); print('raised')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "raised", result.stderr


# as if only NumPy were installed: compare then runs the pure-Python and NumPy rows alone, in seconds
BLOCK_FRAMEWORKS = "import sys; sys.modules.update(dict.fromkeys(('tensorflow', 'torch', 'jax'), None))"


def test_compare_skips_what_is_not_installed_and_says_so():
    result = descent("compare", "--impl", "python", "--impl", "numpy", prelude=BLOCK_TF)
    assert result.returncode == 0
    result = descent("compare", prelude=BLOCK_FRAMEWORKS)
    assert "tf_tape: not installed, not compared (pip install 'descent-bridge[tensorflow]')" in result.stdout
    assert "jax_grad: not installed, not compared (pip install 'descent-bridge[jax]')" in result.stdout
    blocked = {"tensorflow", "torch", "jax"}
    missing = sum(bool(blocked & set(bridge.REGISTRY[n].requires)) for n in SINGLE_PROCESS)  # those the lesson runs
    assert f"{missing} not installed" in result.stdout
    assert result.returncode == 0, "every implementation that ran conforms"


def test_python_run_imports_no_framework():
    code = (
        "import sys\nfrom bridge.cli import main\nmain(['run', '--impl', 'python'])\n"
        "main(['list'])\nprint(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


def test_python_m_bridge_is_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "--impl", "python", "--steps", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    first, note = result.stdout.splitlines()  # and one step is still far from the bottom: said after it
    assert result.returncode == 0 and first == "step  0  weight=0.900  loss=9.000"
    assert note.startswith("note: still on its way: after 1 step the weight is 0.900, the bottom 2.000;")


def test_run_shows_the_bias_beside_the_weight(capsys):
    assert main(["run", "--impl", "python", "--problem", "bias", "--epochs", "1"]) == 0
    trajectory = bridge.train("python", bridge.with_changes(bridge.PRESETS["bias"], epochs=1))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, weight, bias, loss in zip(lines, trajectory.weights, trajectory.biases, trajectory.losses):
        assert f"weight={weight:.3f}  bias={bias:.3f}  loss={loss:.3f}" in line


def test_b0_adds_a_bias_to_a_batched_preset(capsys):
    assert main(["run", "--impl", "numpy", "--problem", "mini_batch", "--b0", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["problem"]["b0"] == 1.0 and len(out["biases"]) == len(out["weights"]) == 16


@pytest.mark.parametrize(
    "argv, out",
    [
        (["--lr", "-1E-1", "--steps", "1"], "step  0  weight=-0.900"),  # uphill: 0 - (-0.1) * (-9)
        (["--x", "-2.5e-1", "--steps", "1"], "step  0  weight=-0.150"),  # 0 - 0.1 * 2 * (0 - 3) * (-0.25)
        (["--w0", "-.5e1", "--steps", "1"], "step  0  weight=-1.850"),  # -5 - 0.1 * 2 * (-7.5 - 3) * 1.5
    ],
)
def test_a_negative_number_in_e_notation_is_a_value(argv, out, capsys):
    # argparse reads -1, -0.5 as values but took -1e-1 for an option ("expected one argument")
    assert main(["run", "--impl", "python", *argv]) == 0
    assert capsys.readouterr().out.startswith(out)


@pytest.mark.parametrize("value", ["-1e309", "-inf", "-INF"])
def test_a_negative_infinity_is_refused_by_the_problem_not_by_argparse(value, capsys):
    assert main(["run", "--impl", "python", "--lr", value]) == 2
    assert capsys.readouterr().err == "descent: error: lr must be finite, got -inf\n"
