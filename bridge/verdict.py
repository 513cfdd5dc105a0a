"""A comparison's outcome: each recorded number that differs (Deviation) and the verdict on a whole run (Verdict)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge.bounds import QUANTITIES
from bridge.trajectory import LAYERS


def network_labels(problem) -> list[str]:
    """The name of each column of Trajectory.network_rows: loss, then 'grad W1[0]' ..., then 'W1[0]' ..."""
    names = [f"{n}[{i}]" for n in LAYERS for i in range(problem.sizes[n])]
    return ["loss", *(f"grad {n}" for n in names), *names]


def group(label: str) -> str:
    """Which headline number a column counts towards."""
    return "losses" if label == "loss" else "gradients" if label.startswith("grad ") else "parameters"


@dataclass(frozen=True)
class Deviation:
    """One recorded number that is not bit-for-bit the reference's."""

    step: int
    quantity: str  # "losses", "grads" or "weights"
    reference: float
    value: float
    ulps: float
    bound: float  # allowed |value - reference|; 0.0 where bitwise is claimed

    def describe(self) -> str:
        name = NAMES.get(self.quantity, self.quantity)  # a network's column is named by itself: "grad W1[2]"
        return f"{name} at step {self.step} is {self.value!r}, reference {self.reference!r} ({_ulps(self.ulps)})"


NAMES = {"losses": "loss", "grads": "gradient", "weights": "weight", "bias_grads": "bias gradient", "biases": "bias"}
NAMES |= {"parameters": "parameters", "gradients": "gradients"}  # a network's, over all its layers
NETWORK_QUANTITIES = ("losses", "gradients", "parameters")
_INF_NAN_PART = "inf/NaN part as the bound allows"


def _ulps(n: float) -> str:
    return "NaN vs number" if n == math.inf else f"{n:g} ULP"


@dataclass
class Verdict:
    """How one implementation's trajectory compares with the reference."""

    implementation: str
    dtype: str
    status: str  # "bitwise", "bounded" or "mismatch"
    cause: str | None = None  # why it may depart from bitwise (None: bitwise claimed)
    max_ulps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(QUANTITIES, 0))
    worst: Deviation | None = None  # the deviation closest to its bound
    failure: Deviation | None = None  # first step that breaks the claim
    reason: str = ""  # why it is a mismatch
    compared_steps: int | None = None  # set where an allowed inf/NaN difference ended the comparison
    stopped: str = _INF_NAN_PART  # why the comparison ended at compared_steps
    device: str = "cpu"  # where the candidate ran
    note: str | None = None  # "not measured on gpu; the CPU claim is applied", where that is so
    replay: str | None = None  # a data-parallel row: how it compares with its engine's combine rule, replayed
    seen: list | None = None  # a data-parallel row: each worker's report of itself (where it ran, the samples it held)
    digits: int | None = (
        None  # within its bound: the significant digits every recorded number shares with the reference
    )
    plain: str = ""  # within its bound: its cause in a few plain words (the whole cause is `cause`)
    masks_either_way: int = 0  # a classifier: ReLU pre-activations within their bound of 0, held to either mask

    @property
    def conforms(self) -> bool:
        return self.status != "mismatch"

    def headline(self) -> str:
        """The verdict without its cause and note: bitwise / within N ULP / MISMATCH at step k."""
        if self.status == "bitwise":
            return "bitwise"
        if self.status == "bounded":
            order = ("weights", "parameters", "losses", "grads", "gradients", "biases", "bias_grads")
            shown = [q for q in order if q in self.max_ulps]
            ulps = "/".join(f"{self.max_ulps[q]:g}" for q in shown)
            names = "/".join(NAMES[q].replace("gradient", "grad") for q in shown)
            cut = self.compared_steps
            overflow = "" if cut is None else f"; compared up to step {cut}, where {self.stopped}"
            return f"within {ulps} ULP ({names}){overflow}"
        return f"MISMATCH at step {self.failure.step}: {self.reason}"

    def in_words(self) -> str:
        """The verdict for a student: same bits, agrees to N digits, or where it went wrong (--why: headline())."""
        if self.status == "bitwise":
            return "same bits"
        if self.status == "bounded":
            cut = "" if self.compared_steps is None else f" up to step {self.compared_steps}"
            return f"agrees to {self.digits} digits{cut}"
        return f"MISMATCH at step {self.failure.step}"

    def footnotes(self) -> list[str]:
        """What the headline needs said beside it: the cause of a bounded verdict, and the note."""
        either = (
            f"{self.masks_either_way} ReLU pre-activations (unit, image, step) lay within their bound of 0, where "
            "the two runs may disagree on the unit being on: the bound holds for either"
            if self.masks_either_way
            else None
        )
        return [t for t in (self.cause if self.status == "bounded" else None, self.note, self.replay, either) if t]

    def summary(self) -> str:
        """One line: bitwise / within N ULP: cause / MISMATCH at step k; and the note, where there is one."""
        notes = self.footnotes()
        return self.headline() + (": " + "; ".join(notes) if notes else "")

    def to_dict(self) -> dict:
        def dev(d: Deviation | None):
            if d is None:
                return None
            return {k: (v if not isinstance(v, float) or math.isfinite(v) else repr(v)) for k, v in vars(d).items()}

        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "device": self.device,
            "status": self.status,
            "conforms": self.conforms,
            "summary": self.summary(),
            "cause": self.cause,
            "note": self.note,
            "replay": self.replay,
            "workers_seen": self.seen,
            "digits": self.digits,
            "masks_either_way": self.masks_either_way,
            "in_words": self.in_words(),
            "plain_cause": self.plain or None,
            "max_ulps": {k: (v if math.isfinite(v) else repr(v)) for k, v in self.max_ulps.items()},
            "compared_steps": self.compared_steps,
            "stopped": None if self.compared_steps is None else self.stopped,
            "worst": dev(self.worst),
            "failure": dev(self.failure),
        }
