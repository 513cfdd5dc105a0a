"""MkDocs hooks: the tables generated from the project itself when the site is built.

<!-- generated: claims -->      every row's claim per loop and device kind, from bridge/rows.py
<!-- generated: benchmarks -->  the benchmark table, from docs/measurements/benchmarks.json (descent bench's JSON)
<!-- generated: classifier benchmarks -->  the classifier's epochs and targets, from
                                docs/measurements/classifier-benchmarks.json (descent bench's JSON, -k classifier)
"""

from __future__ import annotations

import json
from pathlib import Path

MEASURED = Path(__file__).parent / "measurements" / "benchmarks.json"
CLASSIFIER_MEASURED = Path(__file__).parent / "measurements" / "classifier-benchmarks.json"


def claims_table() -> str:
    """Per row, loop and device kind: what bridge.claims holds a float64 run to, in plain words."""
    from bridge.causes import in_plain_words
    from bridge.claims import expected_departure, unmeasured
    from bridge.problems import PRESETS
    from bridge.rows import REGISTRY

    problems = {"one_weight": PRESETS["lesson"], "batched": PRESETS["mini_batch"], "network": PRESETS["mlp"]}
    problems["classifier"] = PRESETS["digits_adam"]  # Adam: where a row puts epsilon is part of its claim
    lines = ["| row | loop | device | claim (float64) | on a GPU |", "|---|---|---|---|---|"]
    for row in REGISTRY.values():
        for loop in row.loops:
            for device in ("cpu", "cuda") if row.gpu else ("cpu",):
                departure = expected_departure(row, problems[loop], device)
                claim = "same bits" if departure is None else in_plain_words(departure)
                note = "" if device == "cpu" else unmeasured(row, device, loop) or f"measured: {row.measured['gpu'][0]}"
                lines.append(f"| `{row.name}` | {loop} | {'gpu' if device == 'cuda' else 'cpu'} | {claim} | {note} |")
    return "\n".join(lines)


def benchmarks_table(measured: Path = MEASURED) -> str:
    from bridge.bench import summarise

    summary = summarise(measured)
    when = json.loads(measured.read_text())["datetime"][:10]
    lines = [
        f"Measured by `descent bench` on {when}, on {summary['machine'] or summary['device_name']} "
        f"({summary['device']}); {', '.join(summary['versions'])}. Rows fastest first; × floor: the time over "
        "a dot product's of the same N on the same device (a classifier's epoch: over its matrix products' "
        "alone); × fastest: over the fastest row's.",
        "",
    ]
    for workload, part in summary["table"].items():
        floor = part["floor"]
        lines += [f"### {workload}", ""]
        if floor and "gb_per_s" in floor:
            lines += [f"Floor ({floor['how']}): {_time(floor['seconds'])}, {floor['gb_per_s']:.3g} GB/s.", ""]
        elif floor:  # a classifier's epoch: its matrix products alone
            rate = f"{floor['gflop_per_s']:.3g} GFLOP/s"
            lines += [
                f"Floor (the epoch's matrix products alone, {floor['how']}): {_time(floor['seconds'])}, {rate}.",
                "",
            ]
        lines += ["| row | time | × floor | × fastest | verdict |", "|---|---|---|---|---|"]
        for name, row in part["rows"].items():
            time = "below noise" if row["seconds"] is None else _time(row["seconds"])
            ratio = lambda v: "" if v is None else f"{v:.3g}"  # noqa: E731
            peer = " (peer)" if row["peer"] else ""
            verdict = (row["verdict"] or "").split(": ")[0]  # the headline: the cause in full is in the JSON
            lines.append(
                f"| `{name}`{peer} | {time} | {ratio(row['vs_floor'])} | {ratio(row['vs_fastest'])} | {verdict} |"
            )
        lines.append("")
    if summary["targets"]:
        lines += ["### Targets", ""]
        lines += [
            f"- {'met' if t['met'] else '**missed**'}: {t['target']}: {_ratio(t['ratio'])}" for t in summary["targets"]
        ]
        lines.append("")
    return "\n".join(lines)


def _ratio(ratio: float | None) -> str:
    return "below noise" if ratio is None else f"{ratio:.2f}×"


def classifier_benchmarks_table() -> str:
    return benchmarks_table(CLASSIFIER_MEASURED)


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


GENERATED = {
    "<!-- generated: claims -->": claims_table,
    "<!-- generated: benchmarks -->": benchmarks_table,
    "<!-- generated: classifier benchmarks -->": classifier_benchmarks_table,
}


def on_page_markdown(markdown: str, **kwargs) -> str:
    for marker, table in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, table())
    return markdown
