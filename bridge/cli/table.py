"""descent compare's table, printed a row at a time: its columns are fixed before the first row is known."""

from __future__ import annotations

import numpy as np

from bridge.console import Console
from bridge.problems import Batched, Classifier, Network
from bridge.rows import REGISTRY, reference_row


def describe(problem) -> dict:
    """The problem's parameters, for headers and JSON."""
    if isinstance(problem, Classifier):
        adam = {"beta_1": problem.beta_1, "beta_2": problem.beta_2, "epsilon": problem.epsilon}
        return {
            "kind": "classifier",
            "data": problem.images.name,
            "n": len(problem.labels),
            "test": len(problem.images.y_test),
            "inputs": problem.inputs,
            "hidden": problem.hidden,
            "optimizer": problem.optimizer,
            "lr": problem.lr,
            **(adam | {"epsilon_hat": problem.epsilon_hat} if problem.optimizer == "adam" else {}),
            "from_logits": problem.from_logits,
            "epochs": problem.epochs,
            "batch_size": problem.batch_size,
            "seed": problem.seed,
            "dtype": problem.dtype,
            "updates": problem.updates,
        }
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


WORDS = (  # what the proof's words mean, under --why (the README says the same)
    "same bits: every recorded number (weight, loss, gradient, at every step) is the very same float as the "
    "reference's, bit for bit.",
    "ULP (unit in the last place): the gap between a float and the next one; N ULP apart means N such steps apart.",
    "bound: the largest distance the row's named cause can make on this problem, derived from the arithmetic "
    "(bridge/bounds.py); a row within its bound conforms, and the percentage says how close it came.",
    "agrees to N digits: the path (every weight and bias, at every step) shares its first N significant digits "
    "with the reference's; the distances of the losses and gradients are the ULP figures above.",
)


def as_typed(value: float, dtype: str) -> str:
    """A number as the person typed it, and in float32 the value it became: 'lr 0.1 (float32: 0.100000001)'."""
    if dtype != "float32":
        return repr(value)
    typed, stored = str(np.float32(value)), f"{value:.9g}"
    return typed if typed == stored else f"{typed} (float32: {stored})"


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
        if info["kind"] == "classifier":
            shape = (
                f"{info['data']}, {info['n']} images, batch {info['batch_size']}, {info['hidden']} ReLU units, "
                f"{'Adam' if info['optimizer'] == 'adam' else 'SGD'}"
            )
        console.line(
            f"problem {args.label}: {shape}, lr {as_typed(problem.lr, problem.dtype)}, {problem.updates} updates, "
            f"{problem.dtype}; reference: {reference_row().name}"
        )
        header = self.HEADER[:-1]
        if info["kind"] == "network":  # its last step's loss is one batch's; this is over all the data
            header = (*header[:-1], "final loss, all data")
        if info["kind"] == "classifier":  # evaluate: on the test images, after training
            header = (*header[:-2], "test accuracy", "test loss")
        self._print(header, self.HEADER[-1])

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
        notes = verdict.footnotes() if self.args.why else [t for t in (verdict.plain, verdict.note) if t]
        self.notes += [note for note in notes if note not in self.notes]
        text = "reference"
        if r["verdict"] != "reference":
            marks = "".join(f" [{self.notes.index(note) + 1}]" for note in notes)
            said = verdict.headline() if self.args.why else verdict.in_words()
            text = self.console.paint(said, verdict.status) + marks
        final_loss = r["epoch_losses"][-1] if "epoch_losses" in r else r["final_loss"]  # a network's: all the data
        numbers = (number_text(r["final_weight"]), number_text(final_loss))
        if "evaluate" in r:  # a classifier's: its test accuracy and loss
            numbers = (f"{r['evaluate']['test_accuracy']:.2%}", f"{r['evaluate']['test_loss']:.6g}")
        self._print((r["implementation"], r["framework"], r["dtype"], self.device(r["implementation"]), *numbers), text)

    def end(self, rows, skipped, lines) -> None:
        """Below the table: each cause once, the closest calls, failures with how to reproduce, the count."""
        line = self.console.line
        for number, note in enumerate(self.notes, 1):
            line(f"  [{number}] {note}")
        for r in rows if self.args.why else []:
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
        if self.args.why:
            line(
                f"{len(rows) - len(failed)} of {len(rows)} implementations conform"
                + (f"; {len(skipped)} not installed" if skipped else "")
                + "."
            )
        else:
            line(self.in_words(rows, failed, len(skipped)))
        for text in lines:
            line(text)
        if self.args.why:
            for text in WORDS:
                line(text)

    def in_words(self, rows, failed, skipped: int) -> str:
        """The last line, for the student: how many walked the reference's path, with the same bits or how close."""
        walked = [r["_verdict"] for r in rows if r["_verdict"].conforms]
        same = sum(v.status == "bitwise" for v in walked)
        close = [v.digits for v in walked if v.status == "bounded"]
        path = "the lesson's path" if self.args.label == "lesson" else f"the reference's path on {self.args.label}"
        count = f"all {len(rows)}" if not failed else f"{len(walked)} of {len(rows)}"
        said = f"{count} walked {path}: {same} with the same bits"
        if close:
            said += f", {len(close)} {'agrees' if len(close) == 1 else 'agree'} to at least {min(close)} digits"
            said += "; each difference has a cause (--why shows the proof)"
        if failed:
            said += f"; {len(failed)} did not (above)"
        return said + (f"; {skipped} not installed" if skipped else "") + "."
