"""The instructor notebook runs top to bottom, so it never breaks."""

import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "instructor.ipynb"


@pytest.mark.slow  # three cells train every row: minutes
@pytest.mark.process
def test_instructor_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "walked the lesson's path" in text and "MISMATCH" not in text
    assert (tmp_path / "lesson.png").stat().st_size > 10_000
    assert (tmp_path / "mlp.png").stat().st_size > 10_000, "the network's plot (From one weight to a layer)"
    assert "problem mlp: 16 samples" in text and "problem mlp_tanh" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is displayed"
