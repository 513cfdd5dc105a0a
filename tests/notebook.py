"""The instructor notebook: run it, and compare its text outputs with the stored ones (python tests/notebook.py --write
stores fresh ones, pictures included, after a change that is meant).

Masked on both sides: versions, memory addresses, temporary folders, and the spaces that align columns (a
longer version widens a column).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "instructor.ipynb"
MASKS = (
    (re.compile(r"\b\d+\.\d+\.\d+[\w.+]*"), "<version>"),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "<address>"),
    (re.compile(r"/\S*descent-notebook-\w+/"), "<pictures>/"),
    (re.compile(r"[ \t]+"), " "),
)


def masked(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def text_of(cell) -> str:
    """What a code cell printed or showed as text: its streams and plain-text results, not its pictures."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data", "error"):
            data = output.get("data", {})
            if "image/png" not in data:  # a picture's text/plain is its repr: <Figure ...>, <IPython Image>
                parts.append(data.get("text/plain", "") or "".join(output.get("traceback", [])))
    return masked("".join(parts))


def execute(notebook, folder: Path, timeout: int = 600) -> list[float]:
    """Run every cell in a kernel whose working folder is `folder`; return each code cell's seconds."""
    import nbclient

    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3")
    seconds = []
    with client.setup_kernel(cwd=str(folder)):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                began = time.perf_counter()
                client.execute_cell(cell, index)
                seconds.append(time.perf_counter() - began)
    return seconds


def main(argv: list[str]) -> int:
    import tempfile

    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        seconds = execute(notebook, Path(folder))
    for k, spent in enumerate(seconds):
        print(f"code cell {k + 1}: {spent:.1f} s")
    if "--write" in argv:
        for cell in notebook.cells:
            cell.metadata.pop("execution", None)
        nbformat.write(notebook, NOTEBOOK)
        print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
