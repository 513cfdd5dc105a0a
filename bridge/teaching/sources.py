"""The loops' own source, read from the files (never imported, so never drifting), one after another or side by side."""

from __future__ import annotations

import ast
import importlib.util
import re

from bridge.rows import get

STEP = re.compile(r"#\s*(\d)(?:-\d)?:")  # the lesson's step comments: "# 1-2: predict", "# 3: ...", "# 4: ..."


def loop_source(name: str, loop: str = "one_weight") -> list[str]:
    """The loop function of impl/<name>.py and the module-level code it uses, as source lines."""
    spec = importlib.util.find_spec(get(name).module)
    text = open(spec.origin, encoding="utf-8").read()
    lines = text.splitlines()
    tree = ast.parse(text)
    top = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    top[target.id] = node
    wanted, todo = set(), [loop]
    while todo:  # the loop, then whatever top-level names it (transitively) uses
        current = todo.pop()
        if current in top and current not in wanted:
            wanted.add(current)
            todo += [n.id for n in ast.walk(top[current]) if isinstance(n, ast.Name)]
    nodes = sorted({id(top[n]): top[n] for n in wanted}.values(), key=lambda n: n.lineno)
    out = []
    for node in nodes:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out += lines[start - 1 : node.end_lineno] + [""]
    return out[:-1]


def _path(name: str) -> str:
    return get(name).module.replace(".", "/") + ".py"


def _segments(lines: list[str]) -> dict[str, list[str]]:
    """Split source at the first comment of each lesson step: before, 1, 3, 4."""
    order = ["before", "1", "3", "4"]
    segments, key = {k: [] for k in order}, "before"
    for line in lines:
        match = STEP.search(line)
        if match and match.group(1) in order and order.index(match.group(1)) > order.index(key):
            key = match.group(1)
        segments[key].append(line)
    return segments


def show(names, loop: str = "one_weight", side_by_side: bool = False, width: int = 72) -> str:
    """The loops one after the other, or side by side with the lesson's steps aligned.

    A row without the loop (a data-parallel row has only the batched one) shows the loop its workers run.
    """
    sources = {n: loop_source(n, loop if loop in get(n).loops else get(n).worker_loop) for n in names}
    if not side_by_side:
        blocks = [f"==> {n} ({_path(n)}) <==\n" + "\n".join(src) for n, src in sources.items()]
        return "\n\n".join(blocks)
    return _columns(sources, width)


def _columns(sources: dict[str, list[str]], width: int) -> str:
    """Each row's source in a column, the lesson's steps aligned across them."""
    names = list(sources)
    parts = {n: _segments(src) for n, src in sources.items()}

    def cell(text: str) -> str:
        return text[: width - 1] + "…" if len(text) > width else text.ljust(width)

    rows = [" │ ".join(cell(f"{n} ({_path(n)})") for n in names), "─┼─".join("─" * width for _ in names)]
    for key in ("before", "1", "3", "4"):
        height = max(len(parts[n][key]) for n in names)
        if key != "before" and height:
            rows.append(" │ ".join(cell(f"---- step {'1-2' if key == '1' else key} ----") for _ in names))
        for i in range(height):
            rows.append(" │ ".join(cell(parts[n][key][i] if i < len(parts[n][key]) else "") for n in names))
    return "\n".join(row.rstrip() for row in rows)


def show_parallel(name: str, width: int = 72) -> str:
    """A data-parallel row's loop beside its single-process one, and what changes between them."""
    single = get(name).single
    combine = get(name).combine.rule
    changes = (
        f"what changes from {single} to {name}: each batch is split across the workers in data order "
        "(bridge.parallel.shards); each worker's loss is its share of the batch's mean, sum / n with n the whole "
        f"batch's real size, so shares of a short or empty split still add up to the mean; and the workers' "
        f"gradients are combined by the all-reduce: {combine}.\n"
        "what does not: predict, the squared error, and the step w = w - lr * grad, the same on every worker."
    )
    sources = {single: loop_source(single, "batched"), name: loop_source(name, get(name).worker_loop)}
    return _columns(sources, width) + "\n\n" + changes
