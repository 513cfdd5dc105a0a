"""The edges a person meets, each found by trying: real exit codes, Ctrl-C, output files, the terminal, the notes."""

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bridge
from bridge.cli import main
from tests.helpers import as_at_a_terminal, impl_params

ROOT = Path(__file__).resolve().parent.parent


def descent(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m bridge ...`: the command itself, with its real exit code."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else os.environ | env,
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["run", "--impl", "numpy", "--x", "1e200", "--steps", "3"], 0, "diverged: at step 1 the loss became inf"),
        (["run", "--impl", "python", "--lr", "1e308", "--steps", "3"], 0, "diverged: at step 0 the weight became inf"),
        (["run", "--impl", "numpy", "--steps", "99999999999999999999"], 2, "over the memory budget of 2.0 GiB"),
        (["run", "--impl", "python", "--problem", "mini_batch", "--epochs", "99999999999999999999"], 2, "budget"),
        (["run", "--impl", "python", "--lr", "nan"], 2, "lr must be finite, got nan"),
        (["plot", "--output", "some/missing/dir/x.png"], 2, "the folder 'some/missing/dir' does not exist"),
        (["nope"], 2, "invalid choice: 'nope'"),
        (
            ["compare", "--impl", "python", "numpy", "--x", "1e200", "--steps", "3"],
            0,
            "all 2 walked the reference's path",
        ),
    ],
)
def test_the_command_exits_as_documented(args, code, says):
    done = descent(*args)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert says in (done.stdout if code == 0 else done.stderr)
    if code == 2:
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    else:
        assert done.stderr == "", done.stderr


def test_a_plot_of_a_run_that_overflows_is_drawn(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output = tmp_path / "x.png"
    assert main(["plot", "--impl", "python", "numpy", "--x", "1e200", "--steps", "3", "--output", str(output)]) == 0
    assert output.stat().st_size > 10_000 and capsys.readouterr().err == ""


def test_ctrl_c_exits_130_with_one_line():
    with as_at_a_terminal():  # SIGINT below must reach it as Ctrl-C does
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge",
                "run",
                "--impl",
                "python",
                "--steps",
                "30000000",
                "--memory-budget",
                "8GiB",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    time.sleep(3)  # well into the run: 3 * 10^7 steps take about 15 s
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130
    assert err == "descent: interrupted\n"


def test_a_closed_pipe_ends_quietly():
    head = subprocess.run(
        f"{sys.executable} -m bridge run --impl python --problem explode | head -2",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert head.stdout.splitlines()[1:] == ["step  0  weight=8.100  loss=9.000"]  # after the overshoot note
    assert head.stderr == ""


@pytest.mark.parametrize("kind", ["missing folder", "a folder", "under a regular file", "in /proc", "not .png"])
def test_a_bad_output_path_is_refused_before_any_training(kind, tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder.png").mkdir()
    path = {
        "missing folder": tmp_path / "missing" / "x.png",
        "a folder": tmp_path / "folder.png",
        "under a regular file": tmp_path / "a-file" / "x.png",
        "in /proc": Path("/proc/x.png"),
        "not .png": tmp_path / "x.jpg",
    }[kind]
    trained = []
    monkeypatch.setattr(bridge.training, "run", lambda *a, **k: trained.append(a))
    assert main(["plot", "--impl", "python", "--output", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("descent: error: --output") and err.count("\n") == 1
    assert trained == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder.png"]


def test_a_plot_that_fails_while_saving_leaves_no_file(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    def full_disk(self, path, **options):
        Path(path).write_bytes(b"\x89PNG half")
        raise bridge.BridgeError("no space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    assert main(["plot", "--impl", "python", "--output", str(tmp_path / "x.png")]) == 2
    assert list(tmp_path.iterdir()) == []


def on_a_terminal(*args: str, env: dict) -> tuple[int, str]:
    """Run the command with its stdout on a pseudo-terminal, as a person sees it; its exit code and every byte."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", *args], cwd=ROOT, stdout=follower, stderr=subprocess.PIPE, env=os.environ | env
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return process.wait(timeout=60), seen.decode()


@pytest.mark.parametrize("name", impl_params(["torch_manual"]))
def test_on_a_terminal_verdicts_are_coloured_and_a_status_shows_what_starts(name):
    code, seen = on_a_terminal("compare", "--impl", "python", "numpy", name, env={"NO_COLOR": ""})
    assert code == 0
    assert "\033[32msame bits\033[0m" in seen  # green
    assert f"{name}: importing torch…" in seen  # the status while torch imports
    assert "\r\033[K" in seen  # ... taken away before the row


def test_no_color_and_pipes_get_plain_text():
    _, seen = on_a_terminal("compare", "--impl", "python", "numpy", env={"NO_COLOR": "1"})
    assert "\033[" not in seen.replace("\r\033[K", "")  # no colour; a status line may still come and go
    piped = descent("compare", "--impl", "python", "numpy")
    assert "\033" not in piped.stdout and "\r" not in piped.stdout


def test_compare_prints_the_header_before_the_slow_rows_finish():
    """Streaming: the first row is on the screen while the next row's framework is still importing."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "compare", "--impl", "python", "numpy", "tf_tape"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.perf_counter()
    first = [process.stdout.readline() for _ in range(3)]
    first_row = time.perf_counter() - start
    rest = process.stdout.read()
    total = time.perf_counter() - start
    err = process.communicate(timeout=60)[1]
    if not bridge.REGISTRY["tf_tape"].installed():
        pytest.skip(bridge.REGISTRY["tf_tape"].install_hint())
    assert first[2].startswith("python ") and "tf_tape" in rest
    assert err == "", f"TensorFlow's start-up said something: {err!r}"
    assert first_row < total / 2, f"the first row came after {first_row:.1f} s of {total:.1f} s"


def test_a_negative_learning_rate_gets_one_line_after_the_lessons_lines(capsys):
    assert main(["run", "--impl", "python", "--lr", "-0.1", "--steps", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line[:8] for line in lines[:3]] == ["step  0 ", "step  1 ", "step  2 "]
    assert lines[0] == "step  0  weight=-0.900  loss=9.000"  # the lesson's line, unchanged
    assert len(lines) == 4 and lines[3].startswith("note: lr -0.1 is negative") and "uphill" in lines[3]


def test_a_zero_learning_rate_gets_one_line(capsys):
    assert main(["run", "--impl", "numpy", "--lr", "0", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["step  0  weight=0.000  loss=9.000", "step  1  weight=0.000  loss=9.000"]
    assert lines[2].startswith("note: lr 0 never moves the weight")


def test_numbers_from_a_million_are_printed_in_scientific_form(capsys):
    def first_step(*args):
        assert main(["run", "--impl", "python", "--steps", "1", *args]) == 0
        return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("step"))

    assert first_step("--x", "1e200") == "step  0  weight=6.000e+199  loss=9.000"
    assert first_step("--x", "1e7") == "step  0  weight=6.000e+06  loss=9.000"  # 6000000.000 before
    assert first_step("--x", "1e5") == "step  0  weight=60000.000  loss=9.000"  # below 1e6: the lesson's .3f


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (
            ["--epochs", "20000", "--impl", "python", "tf_mirrored"],
            {},
            # 5 s to start, then 80,000 updates x 2 workers x 12 ms (its entry's pace): 1,925 s
            "a run of tf_mirrored at 2 workers would take about 32 min here (80,000 updates), over the time limit "
            "of 10 min: shorten it, or raise the limit with --time-limit SECONDS or DESCENT_TIME_LIMIT=SECONDS",
        ),
        (["--workers", "3", "--impl", "jax_sharded", "--time-limit", "2"], {}, "jax_sharded at 3 workers would take"),
        (["--workers", "1", "--impl", "torch_ddp"], {"DESCENT_TIME_LIMIT": "1"}, "torch_ddp at 1 worker would take"),
        (["--impl", "torch_ddp", "--time-limit", "-1e-1"], {}, "--time-limit must be a positive number of seconds"),
        (["--impl", "torch_ddp"], {"DESCENT_TIME_LIMIT": "nan"}, "DESCENT_TIME_LIMIT must be a positive number of"),
    ],
    ids=["over-the-default", "over-the-option", "over-the-variable", "bad-option", "bad-variable"],
)
def test_a_data_parallel_run_that_cannot_finish_in_time_is_refused_at_once(args, env, says, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    started = time.perf_counter()
    assert main(["compare", "--problem", "mini_batch", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert time.perf_counter() - started < 5  # refused at once: no launcher was started (one takes 3 s or more)
