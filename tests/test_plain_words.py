"""What a student reads: plain verdicts with the proof one flag away, and the lesson's notes inside `run`."""

import argparse
import json
import math
import shlex

import pytest

import bridge
from bridge.causes import PLAIN_LENGTH, Departure, in_plain_words
from bridge.cli import main
from bridge.cli.table import WORDS, as_typed
from bridge.compare import agreed_digits
from bridge.problems import with_changes
from bridge.teaching.notes import crawl_note, narrowing_note, overshoot_note

ROWS = ["python", "numpy", "python_autograd"]  # in this process, quick; both depart on a batch, each its own way


def test_compare_says_same_bits_or_how_many_digits_and_its_last_line_says_what_the_student_came_for(capsys):
    assert main(["compare", "--problem", "mini_batch", "--impl", *ROWS]) == 0
    lines = capsys.readouterr().out.splitlines()
    verdicts = {line.split()[0]: line for line in lines[2:5]}
    assert verdicts["python"].endswith("reference")  # the reference walks its own path, bit for bit
    assert verdicts["numpy"].endswith("agrees to 15 digits [1]")
    assert verdicts["python_autograd"].endswith("agrees to 15 digits [2]")
    assert lines[5:7] == ["  [1] adds in pairs", "  [2] scales by 1/n first"]
    assert lines[-1] == (
        "all 3 walked the reference's path on mini_batch: 1 with the same bits, 2 agree to at least 15 digits; "
        "each difference has a cause (--why shows the proof)."
    )
    assert "ULP" not in "\n".join(lines)


def test_same_bits_where_every_number_is_the_reference_s(capsys):
    assert main(["compare", "--impl", *ROWS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit("  ", 1)[1] for line in lines[3:5]] == ["same bits", "same bits"]
    assert lines[-1] == "all 3 walked the lesson's path: 3 with the same bits."


def test_why_shows_the_proof_and_defines_its_words(capsys):
    assert main(["compare", "--problem", "mini_batch", "--impl", *ROWS, "--why"]) == 0
    out = capsys.readouterr().out
    assert "ULP (weight/loss/grad) [1]" in out and "np.mean sums pairwise" in out and "closest to its bound" in out
    assert "3 of 3 implementations conform." in out
    assert out.rstrip().endswith(WORDS[-1]) and all(word in out for word in WORDS)


def test_json_keeps_the_proof_and_adds_the_words(capsys):
    assert main(["compare", "--problem", "mini_batch", "--impl", "python", "numpy", "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)["rows"][1]["detail"]
    assert detail["status"] == "bounded" and detail["max_ulps"]["grads"] > 0 and "pairwise" in detail["cause"]
    assert (detail["in_words"], detail["digits"], detail["plain_cause"]) == ("agrees to 15 digits", 15, "adds in pairs")


@pytest.mark.parametrize(
    "reference, candidate, dtype, digits",
    [
        ([1.0, 2.0], [1.0, 2.0000001], "float64", 7),  # 1e-7 / 2.0000001 = 5.0e-8: 7 digits
        ([1.0, 2.0], [1.0, 2.00001], "float64", 5),  # 5.0e-6
        ([1.0, 3.0], [1.5, 3.0], "float64", 0),  # 0.5 / 1.5 = 0.33
        ([0.0, 2.0], [-0.0, 2.0], "float64", 15),  # only a zero's sign: all float64 holds
        ([1.0, 2.0], [1.0, 2.0000002384185791], "float32", 6),  # one float32 ULP at 2: 6e-8, capped at 6
    ],
)
def test_digits_agreed_are_the_path_s_largest_relative_difference(reference, candidate, dtype, digits):
    problem = bridge.OneWeight(x=1.0, y=2.0, w0=0.0, lr=0.1, steps=2, dtype=dtype)
    runs = [bridge.Trajectory(weights, [1.0, 1.0], [1.0, 1.0]) for weights in (reference, candidate)]
    assert agreed_digits(problem, *runs) == digits


def test_every_claim_in_plain_words_is_short_and_says_something():
    for row in bridge.REGISTRY.values():
        for key, departure in row.claims.items():
            words = in_plain_words(departure)
            assert 0 < len(words) <= PLAIN_LENGTH, (row.name, key, words)
    assert in_plain_words(Departure("something new")) == "rounds in another order"  # never empty


@pytest.mark.parametrize(
    "value, dtype, shown",
    [
        (float.fromhex("0x1.99999ap-4"), "float32", "0.1 (float32: 0.100000001)"),
        (0.5, "float32", "0.5"),
        (0.1, "float64", "0.1"),
    ],
)
def test_a_float32_number_prints_as_typed_and_as_stored(value, dtype, shown):
    assert as_typed(value, dtype) == shown


def test_the_compare_header_shows_the_rate_as_typed(capsys):
    assert main(["compare", "--impl", "python", "--dtype", "float32"]) == 0
    assert ", lr 0.1 (float32: 0.100000001), " in capsys.readouterr().out.splitlines()[0]


# ---- run teaches: the error factor from the start, a crawl's distance, a narrower type ----


@pytest.mark.parametrize(
    "lr, factor, says",
    [
        (0.5, "-1.25", "its size is 1 or more"),  # 1 - 2 * 0.5 * 1.5^2
        (0.4, "-0.8", "but lands closer: the weight zig-zags in"),  # 1 - 2 * 0.4 * 2.25
    ],
)
def test_run_says_from_the_start_when_each_step_jumps_past_the_bottom(lr, factor, says, capsys):
    assert main(["run", "--impl", "python", "--lr", str(lr)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("note: ") and f"by {factor}" in first and says in first, first


def test_no_overshoot_note_where_the_lesson_just_walks_downhill():
    assert overshoot_note(bridge.preset("lesson")) is None  # factor 0.55
    assert overshoot_note(bridge.preset("mini_batch")) is None  # mini-batches: the factor is not one number
    assert overshoot_note(bridge.preset("mlp")) is None  # a network: no one distance to the bottom


def test_a_crawl_says_how_far_it_got_and_how_many_steps_reach_the_bottom():
    problem = bridge.preset("crawl")
    note = crawl_note(problem, bridge.train("python", problem))
    assert note.startswith("note: still on its way: after 20 steps the weight is 1.204, the bottom 2.000; ")
    needed = int(note.rsplit("--steps ", 1)[1].rstrip(")."))  # checked by running that many, and one fewer
    start = abs(problem.w0 - 2.0)
    gap = [abs(bridge.train("python", with_changes(problem, steps=n)).weights[-1] - 2.0) for n in (needed, needed - 1)]
    assert gap[0] <= 0.001 * start < gap[1]
    assert crawl_note(bridge.preset("lesson"), bridge.train("python", bridge.preset("lesson"))) is None  # got there


def test_a_row_that_computes_in_float32_says_so_before_its_lines():
    note = narrowing_note(bridge.REGISTRY["keras_torch"], bridge.preset("lesson"))
    assert note.startswith("note: keras_torch computes this float64 problem partly in float32 (Keras's type")
    assert narrowing_note(bridge.REGISTRY["keras_torch"], bridge.preset("lesson", "float32")) is None
    assert narrowing_note(bridge.REGISTRY["torch_autograd"], bridge.preset("lesson")) is None


def test_a_diverging_run_still_ends_with_the_divergence_not_a_crawl(capsys):
    assert main(["run", "--impl", "python", "--problem", "overshoot"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("note: each step multiplies the distance to the bottom by -3.05")
    assert not any("still on its way" in line for line in lines)
    assert math.isfinite(float(lines[-1].split("loss=")[1]))  # 2.278e+19: still finite after 20 steps


# ---- the first minute ----


def test_descent_alone_prints_a_short_guide_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("descent: the lesson's gradient-descent loop") and "  descent run  " in out
    assert len(out.splitlines()) <= 15


def test_run_defaults_to_the_reference_row(capsys):
    assert main(["run"]) == 0
    default = capsys.readouterr().out
    assert main(["run", "--impl", "python"]) == 0
    assert default == capsys.readouterr().out and default.startswith("step  0  weight=0.900  loss=9.000")


def test_every_help_ends_with_examples_that_parse():
    from bridge.cli.parser import EXAMPLES, build

    parser = build()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(EXAMPLES) == set(commands), "a command without examples, or examples of no command"
    for name, sub in commands.items():
        lines = sub.format_help().rstrip().splitlines()
        shown = [line.strip() for line in lines[lines.index("examples:") + 1 :]]
        assert 2 <= len(shown) <= 3 and shown == EXAMPLES[name], name
        for line in shown:
            parser.parse_args(shlex.split(line.split("#")[0])[1:])  # each one parses: a usage error exits


def test_a_refusal_names_the_fix(capsys):
    assert main(["run", "--impl", "torch_ddp"]) == 2
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith("this is a one-weight problem: try a batched one, such as --problem mini_batch")
    )


def test_a_data_parallel_run_says_what_each_worker_did(capsys):
    if not bridge.REGISTRY["jax_sharded"].installed():
        pytest.skip(bridge.REGISTRY["jax_sharded"].install_hint())
    assert main(["run", "--impl", "jax_sharded", "--problem", "bias", "--workers", "3", "--epochs", "1"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    # bias: batches of 32, 32 and 26, split 11+11+10 and 9+9+8
    assert last == (
        "note: 3 workers, each computing the gradient of its own share of every batch, then xla psum added them; "
        "the samples each took from the first epoch's batches: worker 0 (cpu:0) 11+11+9; worker 1 (cpu:1) 11+11+9; "
        "worker 2 (cpu:2) 10+10+8."
    )


# ---- practice: asks at a terminal, every answer at once elsewhere, and in the lesson's words ----


def test_practice_elsewhere_prints_every_answer_in_the_lesson_s_words(capsys):
    assert main(["practice"]) == 0
    out = capsys.readouterr().out
    assert "   answer: 16, -16, 2.600 (the code agrees)" in out and "   answer: increase the weight (" in out
    assert "'2.600'" not in out and "(16.0," not in out and "'increase" not in out  # no Python repr


def test_practice_at_a_terminal_asks_waits_and_checks(monkeypatch, capsys):
    from bridge.cli import commands

    typed = iter(["9", "", "decrease", "-3.05", "16, -16, 2.6"])
    monkeypatch.setattr(commands, "asks", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(typed))
    assert main(["practice"]) == 0
    said = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip() in SAID]
    assert said == ["right!", "not quite: here is how it goes", "right!", "right!"]  # Enter alone: no judgement
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("--answers asked"))
    assert main(["practice", "--answers"]) == 0


SAID = ("right!", "not quite: here is how it goes")


@pytest.mark.parametrize(
    "typed, answer, right",
    [
        ("9", 9.0, True),
        ("9.0004", 9.0, True),
        ("8", 9.0, False),
        ("increase", "increase the weight", True),
        ("Increase the weight!", "increase the weight", True),
        ("decrease", "increase the weight", False),
        ("up", "increase the weight", False),  # no word of the answer
        ("16 -16 2.6", (16.0, -16.0, "2.600"), True),
        ("16 16 2.6", (16.0, -16.0, "2.600"), False),
        ("16 -16", (16.0, -16.0, "2.600"), False),
    ],
)
def test_a_typed_answer_is_checked_against_the_lesson_s(typed, answer, right):
    from bridge.teaching.practice import answered

    assert answered(typed, answer) is right
