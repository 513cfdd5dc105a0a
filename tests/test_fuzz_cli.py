"""The descent command fuzzed from its own grammar: every input ends in output (exit 0 or 1) or a one-line refusal (2).

Argument lists are drawn from the CLI's commands and options with the numbers,
names and paths a person types, extremes and typos included, and run for real
in this process through bridge.cli.main (argparse's refusals arrive as
SystemExit). A stress run: DESCENT_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz_cli.py
(nox -s fuzz); by default, as many as the Hypothesis profile draws (40 in the
full tier, derandomized on CI), after the 17 explicit examples below.
"""

import collections
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bridge
from bridge.cli import main

EXAMPLES = os.environ.get("DESCENT_FUZZ_EXAMPLES")  # unset: the profile's max_examples (conftest.py)

NUMBERS = [
    *("1e308", "-1e308", "1e-320", "-1e-320", "0", "0.0", "-0.0", "99999999999999999999", "-99999999999999999999"),
    *("3.5e38", "-3.5e38", "3.4028235e38", "1e39"),  # just past float32's largest, and at it
    *(
        "nan",
        "-inf",
        "inf",
        "",
        "1e",
        "0x10",
        "1_000",
        "abc",
        " 2 ",
    ),  # refused, except 1_000 and " 2 " (float takes them)
    *("1.5", "3", "0.1", "-0.1", "0.9", "2"),
]
COUNTS = ["0", "1", "2", "3", "-1", "99999999999999999999", "1e3", "", "2.5", "0x10", "1_000", "nan"]
NAMES = ["python", "numpy", "", "PYTHON", "Numpy", "nope", "torch", "keras"]  # frameworks come in the @examples
# The classifier's presets train 135 updates of every row (a minute for compare): drawn only in the examples below,
# which train a few of its images
PROBLEMS = [*(p for p in bridge.PRESETS if not p.startswith("digits")), "", "LESSON", "nope"]
DTYPES = ["float64", "float32", "float16", "", "FLOAT32"]
DEVICES = ["cpu", "CPU", "cuda", "gpu:1", "", "tpu", "cpu:0"]
BUDGETS = ["512MB", "2GiB", "1", "0", "-1", "1e30", "abc", "", "1 kb"]
PATHS = ["ok.png", "missing/x.png", "folder.png", "a-file/x.png", "/proc/x.png", "", "x.txt", "."]


def _paths(root: Path) -> dict[str, str]:
    """Each kind of path a person may give, made real under root."""
    (root / "folder.png").mkdir(exist_ok=True)
    (root / "a-file").write_text("a regular file")
    return {p: p if p.startswith("/") or not p else str(root / p) for p in PATHS}


def _number(values=NUMBERS):
    return st.one_of(st.sampled_from(values), st.floats(allow_nan=False).map(repr), st.integers(-10, 10).map(str))


def _count():
    return st.one_of(st.sampled_from(COUNTS), st.integers(-3, 30).map(str))


def _options(draw, choices: dict) -> list[str]:
    """Some of the options, each with a drawn value, in a drawn order."""
    chosen = draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=3))  # more: mostly refusals
    argv = []
    for option in chosen:
        value = choices[option]
        argv += [option] if value is None else [option, draw(value)]
    return argv


PROBLEM_OPTIONS = {
    "--problem": st.sampled_from(PROBLEMS),
    "--x": _number(),
    "--y": _number(),
    "--w0": _number(),
    "--lr": _number(),
    "--b0": _number(),
    "--steps": _count(),
    "--epochs": _count(),
    "--batch-size": _count(),
    "--dtype": st.sampled_from(DTYPES),
    "--device": st.sampled_from(DEVICES),
    "--memory-budget": st.sampled_from(BUDGETS),
    "--json": None,
    "--hidden": _count(),  # issue 11's network width
    "--workers": _count(),  # issue 12's worker count
    "--optimizer": st.sampled_from(["sgd", "adam", "rmsprop", ""]),  # issue 21's classifier: refused elsewhere
    "--train-size": _count(),
    "--from-probabilities": None,
    "--data": st.sampled_from(["no/such/mnist.npz", ""]),
}


@st.composite
def command_lines(draw, paths: dict[str, str]) -> list[str]:
    """An argument list for one of the commands, from the CLI's grammar."""
    command = draw(st.sampled_from(["list", "run", "compare", "grads", "plot", "show", "practice", "bench", "nope"]))
    impls = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
    argv = [command]
    if command == "list":
        argv += draw(st.sampled_from([[], ["--json"], ["--nope"]]))
    elif command in ("run", "compare", "grads", "plot"):
        if command == "run":
            argv += draw(st.sampled_from([["--impl", n] for n in NAMES] + [[]]))
        elif draw(st.booleans()):
            argv += ["--impl", *draw(impls)]
        if command == "plot":
            argv += draw(st.sampled_from([["--output", p] for p in paths.values()] + [[]]))
        argv += _options(draw, PROBLEM_OPTIONS)
    elif command == "show":
        argv += _options(
            draw,
            {
                "--impl": st.sampled_from(NAMES),
                "--loop": st.sampled_from(["one_weight", "batched", "nope", ""]),
                "--side-by-side": None,
                "--width": _count(),
            },
        )
    elif command == "practice":
        argv += _options(draw, {"--impl": st.sampled_from(NAMES), "--json": None})
    elif command == "bench":  # always --results: without it, bench runs minutes of benchmarks
        argv += ["--results", draw(st.sampled_from(list(paths.values())))]
        argv += _options(
            draw,
            {
                "--output-dir": st.sampled_from(list(paths.values())),
                "--device": st.sampled_from(DEVICES),
                "--quick": None,
            },
        )
    return argv


# Python's own filters (python -c "import warnings; print(warnings.filters)"), not pytest's: what `descent`
# shows a person. Any warning they let through on a successful run fails the test.
PYTHON_DEFAULT_FILTERS = [
    ("default", Warning),
    ("ignore", DeprecationWarning),
    ("ignore", PendingDeprecationWarning),
    ("ignore", ImportWarning),
    ("ignore", ResourceWarning),
]


def run_cli(argv: list[str], capfd) -> tuple[int, str, str, list]:
    """main(argv) in this process: its exit code, stdout, stderr (file descriptors 1 and 2: a framework's
    C++ log lines too) and any warning raised."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        for action, category in PYTHON_DEFAULT_FILTERS:  # what `descent` shows a person, not pytest's own filters
            warnings.filterwarnings(action, category=category)
        try:
            code = main(argv)
        except SystemExit as done:  # argparse's own refusals
            code = done.code
    out, err = capfd.readouterr()
    return code, out, err, [str(w.message) for w in caught]


def check_outcome(argv, code, out, err, caught, root: Path) -> None:
    """The property: output or a one-line refusal; no traceback, no warning, no partial file."""
    where = f"descent {' '.join(repr(a) if not a or ' ' in a else a for a in argv)}"
    assert code in (0, 1, 2), f"{where}: exit code {code!r}\n{err}"
    assert "Traceback" not in out + err, f"{where}: a traceback\n{err}"
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n"), f"{where}: a refusal must be one line, got {err!r}"
        assert "error:" in err, f"{where}: {err!r}"
    else:
        assert err == "", f"{where}: exit {code} but stderr says {err!r}"
        assert caught == [], f"{where}: warnings {caught}"
    if code == 1:
        assert argv[0] in ("compare", "practice"), f"{where}: exit 1 is for a mismatch found by compare or practice"
    assert not list(root.rglob("*.part")), f"{where}: left a partial file"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.slow  # 57 command lines, each run for real: half a minute
def test_fuzzed_command_lines_end_in_output_or_a_one_line_refusal(root, capfd):
    paths = _paths(root)

    @settings(
        **({"max_examples": int(EXAMPLES)} if EXAMPLES else {}),
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(argv=command_lines(paths))
    # every framework trains for real at least once, whatever Hypothesis draws
    @example(argv=["run", "--impl", "torch_manual", "--lr", "1e308", "--steps", "3"])
    @example(argv=["compare", "--impl", "torch_autograd", "tf_tape", "--x", "1e200", "--steps", "3"])
    @example(argv=["grads", "--impl", "jax_grad", "tf_tape", "--problem", "explode", "--dtype", "float32"])
    @example(argv=["run", "--impl", "keras_jax", "--lr", "-0.1", "--steps", "2", "--json"])
    @example(argv=["compare", "--impl", "keras_tensorflow", "keras_torch", "--problem", "practice"])
    @example(argv=["compare", "--impl", "tf_function", "jax_jit", "torch_compile", "--lr", "3.5e38", "--steps", "2"])
    @example(argv=["plot", "--output", paths["ok.png"], "--impl", "python", "numpy", "--x", "1e200", "--steps", "3"])
    @example(argv=["plot", "--output", paths["missing/x.png"], "--impl", "python"])
    @example(argv=["run", "--impl", "numpy", "--steps", "99999999999999999999"])
    @example(argv=["run", "--problem", "digits", "--train-size", "64", "--epochs", "1", "--json"])
    @example(argv=["compare", "--impl", "numpy", "--problem", "digits_adam", "--train-size", "64", "--epochs", "1"])
    @example(argv=["run", "--problem", "digits", "--hidden", "0"])
    @example(argv=["compare", "--problem", "digits", "--batch-size", "5000", "--impl", "numpy"])
    # two data-parallel rows: batches of 2 over 3 workers (an empty share at every step), a bias near overflow
    @example(
        argv=[
            "compare",
            "--problem",
            "bias",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--workers",
            "3",
            "--b0",
            "1e308",
            "--impl",
            "torch_ddp",
            "jax_sharded",
        ]  # tf_mirrored's and keras_data_parallel's empty shares: tests/test_parallel.py
    )
    @example(argv=["run", "--impl", "python", "--problem", "mini_batch", "--epochs", "99999999999999999999"])
    @example(argv=["compare", "--problem", "bias", "--b0", "1e-320", "--lr", "0", "--impl", "python", "numpy"])
    @example(argv=["show", "--width", "99999999999999999999", "--side-by-side"])
    # found by the 10,000-line run: a batch_size past int64 reached jax_jit's reshape and Keras's fit
    @example(argv=["compare", "--batch-size", "99999999999999999999", "--b0", "1e308", "--problem", "full_batch"])
    @example(argv=["bench", "--results", paths["folder.png"]])
    @example(argv=["bench", "--results", paths["a-file/x.png"].rsplit("/", 1)[0], "--output-dir", "/proc/x"])
    def fuzz(argv):
        outcome = run_cli(argv, capfd)
        check_outcome(argv, *outcome, root)
        seen[(argv[0], outcome[0])] += 1

    seen = collections.Counter()
    fuzz()
    with capfd.disabled():  # what was tried, for the record (pytest -s, or the stress run's log)
        counts = ", ".join(f"{command} exit {code}: {n}" for (command, code), n in sorted(seen.items()))
        print(f"\n{sum(seen.values())} command lines run: {counts}")
    assert any(code == 0 for _, code in seen) and any(code == 2 for _, code in seen)
