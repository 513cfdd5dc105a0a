"""The house: one entry per row holding every fact, no row name written anywhere else in bridge/, layers kept,
and a new row joining in one place with every command working on it."""

import ast
import dataclasses
import importlib.util
import inspect
import json
from pathlib import Path

import pytest

import bridge
from bridge.bounds import TANH_ULPS
from bridge.causes import CPU, GPU, Combine, Departure
from bridge.classifier_bounds import EXP_LOG_ULPS
from bridge.cli import main
from bridge.parallel import MAX_WORKERS
from bridge.row import WITH_CLASSIFIER
from bridge.rows import IN_PROCESS, LAUNCHER, REGISTRY, Row, registered
from bridge.runners import LOOPS, RUNNERS
from bridge.runners.launcher import RankLoop
from tests.helpers import png_size

ROOT = Path(__file__).resolve().parent.parent
NAMES = set(REGISTRY)
pytestmark = pytest.mark.core  # static checks and numpy alone: the fast tier, whatever rows they name


def source_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_row_has_every_fact(name):
    row = REGISTRY[name]
    assert row.summary and source_of(row.module).is_file(), "a summary, and a module that exists"
    assert row.runner in RUNNERS and row.loops and set(row.loops) <= set(WITH_CLASSIFIER)
    assert row.framework == (row.requires[0] if row.requires else ""), "the framework is the first module required"
    assert not row.requires or row.distributions, "where its version comes from"
    assert row.device_check in ("", *row.requires), "its devices are those of a framework it requires"
    assert row.cost.per_value > 0 and row.cost.per_sample > 0, "what a run stores"
    for key, departure in row.claims.items():  # keyed by (loop, kind) and, for a data-parallel row, workers
        assert isinstance(departure, Departure) and departure.cause
        assert key[0] in row.loops and key[1] in (CPU, GPU) and len(key) == (3 if row.parallel else 2), key
    for kind, (where, loops) in row.measured.items():
        assert kind == GPU and where and set(loops) <= set(row.loops), "a GPU claim says where it was measured"
    if "network" in row.loops and not row.reference:
        assert row.tanh in TANH_ULPS, "whose tanh it calls, and that library's error measured"
    if "classifier" in row.loops:
        assert row.exp_log in EXP_LOG_ULPS, "whose exp and log it calls, and that library's error measured"
        assert row.adam_form in (None, "epsilon", "epsilon_hat"), "where its Adam adds epsilon"
        assert row.autodiff or row.adam_form is None, "a hand row's Adam follows the problem's epsilon"
    if row.parallel:
        assert isinstance(row.combine, Combine) and row.combine.rule, "how its workers' gradients combine"
        assert {k[2] for k in row.claims} == set(range(1, MAX_WORKERS + 1)), "a claim at every worker count"
        assert row.single in REGISTRY and not REGISTRY[row.single].parallel, "the loop it splits"
    else:
        assert row.combine is None and not row.worker_devices


def test_exactly_one_row_is_the_reference():
    assert [n for n, row in REGISTRY.items() if row.reference] == ["python"]


def test_a_row_is_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        Row("python", "a summary", "impl.python")  # noqa: the positional booleans of old are gone
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGISTRY["python"].summary = "changed"


def _signature(function: ast.FunctionDef) -> list[tuple[str, str | None]]:
    """A function's parameters as (name, default source), from its source alone (no framework imported)."""
    args = function.args
    defaults = [None] * (len(args.args) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    return [(a.arg, d) for a, d in zip(args.args, defaults)]


def _protocol(protocol, loop: str) -> list[tuple[str, str | None]]:
    method = getattr(protocol, loop)
    return [
        (p.name, None if p.default is p.empty else repr(p.default))
        for p in inspect.signature(method).parameters.values()
    ][1:]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_module_offers_the_loops_its_runner_calls(name):
    # the loop interface, written down as a Protocol per kind of runner (bridge/runners): every module matches it
    row = REGISTRY[name]
    tree = ast.parse(source_of(row.module).read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    wanted = [(loop, LOOPS[row.runner]) for loop in row.loops] + (
        [("prepare", LOOPS[IN_PROCESS])] if row.runner == IN_PROCESS else []
    )
    if row.rank_loop:  # the launcher starts a process per worker, each running this
        wanted = [(row.rank_loop, RankLoop)]
    for loop, protocol in wanted:
        assert loop in functions, f"{row.module} has no {loop}() for its {row.runner} runner"
        assert _signature(functions[loop]) == _protocol(protocol, loop), f"{row.module}.{loop}'s signature"


def _row_names_in(node) -> list[str]:
    """The row names a node writes as string literals (alone, or in a tuple, list or set)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES]


def _literal_row_names(path: Path) -> list[str]:
    """Where bridge/'s code compares with a row's name or looks a row up by one, written as a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                found += [f"line {node.lineno}: compared with {n!r}" for n in _row_names_in(side)]
        elif isinstance(node, ast.Subscript) and _row_names_in(node.slice):
            found.append(f"line {node.lineno}: looked up by {_row_names_in(node.slice)[0]!r}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("get",):
            found += [f"line {node.lineno}: get({n!r})" for a in node.args for n in _row_names_in(a)]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "bridge").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_row_name_is_written_in_bridge_outside_the_row_table(path):
    if path.name == "rows.py":
        return
    assert _literal_row_names(path) == [], "a row's fact belongs in its entry (bridge/rows.py)"


def test_the_name_check_finds_what_it_looks_for(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('if name == "python":\n    pass\nx = REGISTRY["numpy"]\ny = "jax_jit" in ("a",)\n')
    assert len(_literal_row_names(planted)) == 3


@pytest.mark.parametrize("path", sorted((ROOT / "impl").glob("*.py")), ids=lambda p: p.name)
def test_impl_imports_the_leaves_never_the_package_face(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "bridge":
            pytest.fail(f"{path.name} line {node.lineno}: from bridge import ...; import the leaf module instead")
        if isinstance(node, ast.Import) and any(a.name == "bridge" for a in node.names):
            pytest.fail(f"{path.name} line {node.lineno}: import bridge")


def test_the_layers_hold():
    lint = pytest.importorskip("importlinter.cli")
    assert lint.lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0, "lint-imports: a layer is broken"


# ---- a new framework joins in one place ----

NUMPY_AGAIN = dataclasses.replace(REGISTRY["numpy"], name="numpy_again", summary="numpy's loops, registered by a test")


@pytest.fixture
def new_row():
    with registered(NUMPY_AGAIN) as row:
        yield row
    assert "numpy_again" not in REGISTRY


def test_a_registered_row_trains_and_is_compared(new_row):
    assert "numpy_again" in bridge.IMPLEMENTATIONS and bridge.IMPLEMENTATIONS[-1] == "numpy_again"
    problem = bridge.preset("mini_batch")
    trajectory = bridge.train("numpy_again", problem)
    assert trajectory.implementation == "numpy_again" and trajectory.weights == bridge.train("numpy", problem).weights


def test_every_command_works_on_a_registered_row(new_row, tmp_path, capsys):
    assert main(["list"]) == 0 and "numpy_again" in capsys.readouterr().out
    assert main(["run", "--impl", "numpy_again"]) == 0
    assert capsys.readouterr().out.startswith("step  0  weight=0.900  loss=9.000")
    assert main(["compare", "--impl", "python", "numpy_again", "--problem", "mini_batch", "--json"]) == 0
    rows = {r["implementation"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["numpy_again"]["detail"]["conforms"] and rows["numpy_again"]["detail"]["cause"]
    assert main(["compare", "--impl", "python", "numpy_again", "--problem", "mlp"]) == 0
    assert "numpy_again" in capsys.readouterr().out
    assert main(["grads", "--impl", "numpy_again", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["implementations"] == ["numpy_again"]
    output = tmp_path / "again.png"
    assert main(["plot", "--impl", "numpy_again", "--output", str(output)]) == 0 and png_size(output) == (1600, 1000)
    assert (
        main(["show", "--impl", "numpy_again"]) == 0
        and "==> numpy_again (impl/numpy.py) <==" in capsys.readouterr().out
    )
    assert main(["practice", "--impl", "numpy_again"]) == 0
    capsys.readouterr()
    assert main(["run", "--impl", "numpy_again", "--steps", "1000000", "--memory-budget", "1MB"]) == 2
    assert "a run of numpy_again would store" in capsys.readouterr().err  # the budget reads the row's own cost


def test_a_row_name_taken_already_is_refused():
    with pytest.raises(ValueError, match="exists already"), registered(REGISTRY["numpy"]):
        pass


def test_layers_of_the_runners_receive_rows_not_names():
    for kind, runner in RUNNERS.items():
        for call in ("prepare", "run", "start"):
            assert list(inspect.signature(getattr(runner, call)).parameters)[0] == "row", f"{kind}.{call}"
    assert {IN_PROCESS, LAUNCHER} <= set(RUNNERS)
    assert importlib.util.find_spec("bridge.registry") is None, "the table and the dispatcher are apart now"
