"""The instructor notebook: stored with its outputs, and those outputs are what running it prints today."""

import difflib
import shutil

import pytest

from tests.notebook import NOTEBOOK, execute, text_of


def _stored():
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(NOTEBOOK, as_version=4)


def test_the_notebook_is_stored_with_its_outputs_and_pictures_for_a_demo_that_runs_nothing():
    notebook = _stored()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in code), "every code cell has its output stored"
    pictures = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) >= 3, "the lesson's plot, Keras over the hand loop, the network's plot: inline"
    first = text_of(code[0])
    for column in ("gradient = hand", "path = hand"):
        assert column in first.splitlines()[0]
    assert "keras_tensorflow" in first and len(first.splitlines()) <= 25, "Keras included, on one screen"
    assert "ULP" not in "".join(c.source for c in notebook.cells if c.cell_type == "markdown"), "plain words"


def test_only_the_last_section_runs_data_parallel_rows():
    notebook = _stored()
    parallel = ("torch_ddp", "jax_sharded", "tf_mirrored", "keras_data_parallel")
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert [any(name in source for name in parallel) for source in sources].index(True) == len(sources) - 1


@pytest.mark.slow  # it trains every framework, Keras and the data-parallel rows included: about 80 s
@pytest.mark.process
def test_the_stored_outputs_are_what_the_notebook_prints_today(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    notebook = _stored()
    stored = [text_of(cell) for cell in notebook.cells if cell.cell_type == "code"]
    docs = sorted(p.name for p in NOTEBOOK.parent.iterdir())
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    execute(notebook, tmp_path)
    fresh = [text_of(cell) for cell in notebook.cells if cell.cell_type == "code"]
    for number, (old, new) in enumerate(zip(stored, fresh), 1):
        diff = "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), "stored", "today", lineterm=""))
        assert old == new, f"code cell {number} prints something else today (python tests/notebook.py --write):\n{diff}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [NOTEBOOK.name], "pictures go to a temporary folder"
    assert sorted(p.name for p in NOTEBOOK.parent.iterdir()) == docs, "and never over the committed files"
