"""descent compare's table, printed a row at a time: its columns are fixed before the first row is known."""

from __future__ import annotations

from bridge.console import Console
from bridge.problems import Batched, Network
from bridge.rows import REGISTRY, reference_row


def describe(problem) -> dict:
    """The problem's parameters, for headers and JSON."""
    if isinstance(problem, Network):
        shape = {"n": int(problem.x.size), "epochs": problem.epochs, "batch_size": problem.batch_size}
        layer = {"hidden": problem.hidden, "activation": problem.activation, "seed": problem.seed}
        return {
            "kind": "network",
            **shape,
            **layer,
            "lr": problem.lr,
            "dtype": problem.dtype,
            "updates": problem.updates,
        }
    common = {"w0": problem.w0, "lr": problem.lr, "dtype": problem.dtype, "updates": problem.updates}
    if isinstance(problem, Batched):
        return {
            "kind": "batched",
            "n": int(problem.x.size),
            "epochs": problem.epochs,
            "batch_size": problem.batch_size,
            "b0": problem.b0,
            **common,
        }
    return {"kind": "one_weight", "x": problem.x, "y": problem.y, "steps": problem.steps, **common}


def _finite_or_text(value: float):
    return value if value == value and abs(value) != float("inf") else repr(value)


def number_text(value) -> str:
    """Full precision for numbers, as written for inf and NaN, a dash for nothing."""
    return "-" if value is None else value if isinstance(value, str) else repr(value)


class Table:
    """The compare table, printed a row at a time: its columns are fixed before the first row is known."""

    HEADER = ("implementation", "framework", "dtype", "device", "final weight", "final loss", "verdict")
    NUMBER = 24  # the longest repr of a float: -2.2250738585072014e-308

    def __init__(self, console: Console, args, problem, names):
        self.console, self.args, self.problem, self.notes = console, args, problem, []
        if args.json:
            return
        devices = [self.device(n) for n in names]
        self.widths = [
            max(len(self.HEADER[0]), *map(len, names)),
            max(len(self.HEADER[1]), *(len(REGISTRY[n].version()) for n in names)),
            len("float64"),
            max(len(self.HEADER[3]), *map(len, devices)),
            self.NUMBER,
            self.NUMBER,
        ]
        info = describe(problem)
        shape = "one weight"
        if info["kind"] == "batched":
            shape = f"{info['n']} samples, batch {info['batch_size']}"
            shape += "" if info["b0"] is None else ", weight and bias"
        if info["kind"] == "network":
            shape = (
                f"{info['n']} samples, batch {info['batch_size']}, {info['hidden']} hidden units ({info['activation']})"
            )
        console.line(
            f"problem {args.label}: {shape}, lr {problem.lr!r}, {problem.updates} updates, "
            f"{problem.dtype}; reference: {reference_row().name}"
        )
        self._print(self.HEADER[:-1], self.HEADER[-1])

    def device(self, name: str) -> str:
        """Where the row ran: the device, and for a data-parallel row how many workers (cpu x2)."""
        where = REGISTRY[name].device_for(self.args.device)
        return f"{where} x{self.args.workers}" if REGISTRY[name].parallel else where

    def _print(self, cells, verdict: str = "") -> None:
        self.console.line("  ".join(str(c).ljust(w) for c, w in zip(cells, self.widths)) + "  " + verdict)

    def row(self, r: dict) -> None:
        if self.args.json:
            return
        verdict = r["_verdict"]
        self.notes += [note for note in verdict.footnotes() if note not in self.notes]
        text = "reference"
        if r["verdict"] != "reference":
            marks = "".join(f" [{self.notes.index(note) + 1}]" for note in verdict.footnotes())
            text = self.console.paint(verdict.headline(), verdict.status) + marks
        numbers = (number_text(r["final_weight"]), number_text(r["final_loss"]))
        self._print((r["implementation"], r["framework"], r["dtype"], self.device(r["implementation"]), *numbers), text)

    def end(self, rows, skipped, lines) -> None:
        """Below the table: each cause once, the closest calls, failures with how to reproduce, the count."""
        line = self.console.line
        for number, note in enumerate(self.notes, 1):
            line(f"  [{number}] {note}")
        for r in rows:
            worst = r["_verdict"].worst
            if worst is not None:
                share = abs(worst.value - worst.reference) / worst.bound
                line(f"  {r['implementation']}: closest to its bound: {worst.describe()}, {share:.1%} of the bound")
        failed = [r for r in rows if not r["_verdict"].conforms]
        for r in failed:
            line(
                f"{r['implementation']}: {r['_verdict'].failure.describe()}; reproduce: descent compare --impl "
                f"{r['implementation']} --problem {self.args.problem} --dtype {self.problem.dtype}"
            )
        for s in skipped:
            line(f"{s['implementation']}: not installed, not compared ({s['install']})")
        line(
            f"{len(rows) - len(failed)} of {len(rows)} implementations conform"
            + (f"; {len(skipped)} not installed" if skipped else "")
            + "."
        )
        for text in lines:
            line(text)
