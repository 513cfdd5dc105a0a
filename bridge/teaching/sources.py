"""The loops' own source, read from the files (never imported, so never drifting), one after another or side by side.

By default a loop is shown as the lesson: its own lines, without the plumbing that records the trajectory or
rounds the reference to float32 (`r(...)`). `full=True` shows the file's lines, unedited.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap

from bridge.rows import get

STEP = re.compile(r"#\s*(\d)(?:-\d)?:")  # the lesson's step comments: "# 1-2: predict", "# 3: ...", "# 4: ..."
# What records or checks a run rather than training it: a statement that names one of these is plumbing
PLUMBING = re.compile(r"\b(trajectory|Trajectory|kept|seen|bias_values|rounder|require_cpu|recording)\b|Recorder\b")
# Calls shown as their argument alone: the reference's float32 rounding r(...) (the identity in float64),
# and a private helper's wrapping of what the loop computed (_trajectory(descend(...)))
ROUNDED = re.compile(r"(?<![\w.])(r|_[a-z]\w*)\(")
SCREEN = 100  # columns: what fits a projector at a readable size and a terminal at its default


def _code(line: str) -> str:
    """The line without its comment (the project's style puts two spaces before an inline one)."""
    return "" if line.lstrip().startswith("#") else line.split("  #")[0]


def _unround(line: str) -> str:
    """r(a * b) -> a * b, nested ones too; _trajectory(descend(...)) -> descend(...) (a call of one argument)."""
    start = 0
    while match := ROUNDED.search(_code(line), start):
        depth, commas, end = 0, 0, match.end() - 1
        for end in range(match.end() - 1, len(line)):
            depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(line[end], 0)
            commas += line[end] == "," and depth == 1
            if depth == 0:
                break
        if commas and match.group(1) != "r":  # a helper given several things: shown as it is
            start = match.end()
            continue
        line = line[: match.start()] + line[match.end() : end] + line[end + 1 :]
    return line


def _plumbing(node: ast.stmt, lines: list[str]) -> bool:
    """A statement that only records: its first line names plumbing, or everything inside it is plumbing."""
    if PLUMBING.search(_code(lines[node.lineno - 1])):
        return True
    body = getattr(node, "body", None)
    if isinstance(body, list) and not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return all(_plumbing(child, lines) for child in body + getattr(node, "orelse", []))
    return False


def _lesson_lines(node, lines: list[str]) -> tuple[list[str], set[str]]:
    """A definition's lines as the lesson reads them (one-line docstrings, no plumbing, no rounding), and the
    names those lines use."""
    replaced: dict[int, str] = {}  # line number -> what shows instead ("" drops it)
    docstrings = set()
    for child in ast.walk(node):
        if isinstance(child, ast.stmt) and child is not node and _plumbing(child, lines):
            replaced |= dict.fromkeys(range(child.lineno, child.end_lineno + 1), "")
            above = child.lineno - 1  # the comment block just above a dropped statement is about it
            while lines[above - 1].lstrip().startswith("#"):
                replaced[above] = ""
                above -= 1
        if isinstance(child, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(child):
            first, last = child.body[0].lineno, child.body[0].end_lineno
            docstrings.add(first)
            if last > first:  # the summary line alone, closed where it ends
                replaced |= dict.fromkeys(range(first + 1, last + 1), "")
                replaced[first] = lines[first - 1].rstrip() + '"""'
    shown, numbers = [], set()
    for number in range(node.lineno, node.end_lineno + 1):
        line = replaced.get(number, lines[number - 1])
        if number > node.lineno and number not in docstrings and PLUMBING.search(_code(line)):
            continue  # an argument inside a call: callbacks=[Recorder(trajectory)]
        if line:
            shown.append(_unround(line))
            numbers.add(number)
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.lineno in numbers}
    return shown, names


def loop_source(name: str, loop: str = "one_weight", full: bool = True) -> list[str]:
    """The loop function of impl/<name>.py and the module-level code it uses, as source lines.

    full=False: the lesson's view of them (no plumbing, no rounding, no private helpers).
    """
    spec = importlib.util.find_spec(get(name).module)
    text = open(spec.origin, encoding="utf-8").read()
    lines = text.splitlines()
    top = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    top[target.id] = node
    shown = {}
    wanted, todo = set(), [loop]
    while todo:  # the loop, then whatever top-level names it (transitively) uses
        current = todo.pop()
        if current in top and current not in wanted and (full or current == loop or current[0] != "_"):
            wanted.add(current)
            node = top[current]
            if full:
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                shown[node.lineno] = lines[start - 1 : node.end_lineno]
                todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
            else:
                decorators = [lines[d.lineno - 1] for d in getattr(node, "decorator_list", [])]
                lesson, names = _lesson_lines(node, lines)
                shown[node.lineno] = decorators + lesson
                todo += names
    out = []
    for number in sorted(shown):
        out += shown[number] + [""]
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


def _sources(names, loop: str, full: bool) -> dict[str, list[str]]:
    """Each distinct source once, headed by its file and every row that runs it (the Keras rows share one)."""
    by_file: dict[tuple[str, str], list[str]] = {}
    for name in dict.fromkeys(names):
        row = get(name)
        function = loop if loop in row.loops else row.worker_loop  # a data-parallel row: what its workers run
        by_file.setdefault((name if full else _path(name), function), []).append(name)
    sources = {}
    for (_, function), rows in by_file.items():
        title = f"{', '.join(rows)} ({_path(rows[0])})"
        sources[title] = loop_source(rows[0], function, full)
    return sources


def fitting(columns: int) -> int:
    """The width of each of `columns` columns side by side on a 100-column screen."""
    return max(20, (SCREEN - 3 * (columns - 1)) // columns)


def show(names, loop="one_weight", side_by_side=False, width=None, full=False) -> str:
    """The loops one after the other, or side by side with the lesson's steps aligned.

    A row without the loop (a data-parallel row has only the batched one) shows the loop its workers run.
    """
    sources = _sources(names, loop, full)
    if not side_by_side:
        return "\n\n".join(f"==> {title} <==\n" + "\n".join(src) for title, src in sources.items())
    return _columns(sources, width or fitting(len(sources)))


def _wrapped(lines: list[str], width: int) -> list[str]:
    """Lines longer than the column folded, nothing cut: a comment goes above its code, each part wrapped."""
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        code, _, comment = line.partition("  # ") if not line.lstrip().startswith("#") else ("", "", line.lstrip()[2:])
        if comment:
            out += textwrap.wrap(comment, width, initial_indent=indent + "# ", subsequent_indent=indent + "# ")
        if code:
            out += textwrap.wrap(code, width, subsequent_indent=indent + "    ")
    return out


def _columns(sources: dict[str, list[str]], width: int) -> str:
    """Each row's source in a column, the lesson's steps aligned across them."""
    titles = list(sources)
    parts = {t: {key: _wrapped(lines, width) for key, lines in _segments(src).items()} for t, src in sources.items()}

    def cell(text: str) -> str:
        return text[: width - 1] + "…" if len(text) > width else text.ljust(width)

    rows = [" │ ".join(cell(t) for t in titles), "─┼─".join("─" * width for _ in titles)]
    for key in ("before", "1", "3", "4"):
        height = max(len(parts[t][key]) for t in titles)
        if key != "before" and height:
            rows.append(" │ ".join(cell(f"---- step {'1-2' if key == '1' else key} ----") for _ in titles))
        for i in range(height):
            rows.append(" │ ".join(cell(parts[t][key][i] if i < len(parts[t][key]) else "") for t in titles))
    return "\n".join(row.rstrip() for row in rows)


def show_parallel(name: str, width=None, full=False) -> str:
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
    sources = {
        f"{single} ({_path(single)})": loop_source(single, "batched", full),
        f"{name} ({_path(name)})": loop_source(name, get(name).worker_loop, full),
    }
    paragraphs = (textwrap.fill(paragraph, SCREEN) for paragraph in changes.splitlines())
    return _columns(sources, width or fitting(2)) + "\n\n" + "\n".join(paragraphs)
