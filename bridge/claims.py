"""What a row claims on a problem and device: bitwise, or a departure with its cause; and where that was measured.

Every implementation is compared with the reference (on the CPU), step by
step. Bitwise is the claim for every loop on every device except where the
row's entry (bridge/rows.py, Row.claims) says why not, keyed by loop and
device kind (cpu, gpu), and for a data-parallel row by its worker count too.
Each cause was established by experiment (tests/test_causes.py):

- reordering: a batch mean sums its terms in the framework's own order, and
  autograd's mean scales each term by 1/n before summing; IEEE addition is
  not associative, so the rounding errors differ at every step.
- fusing: compiled XLA (tf_function, jax_jit) contracts a multiply and an add
  into one fused multiply-add, rounding once where the reference rounds twice;
  so do Inductor's Triton kernels (torch_compile on a GPU).
- flushing: TensorFlow's and XLA's CPU kernels flush subnormal numbers to
  zero (FTZ/DAZ), where IEEE arithmetic keeps them.

A run on a GPU is held to its GPU claim; where a row has none, to its CPU
claim. Where that claim was never measured on a GPU (Row.measured), the
verdict says so: "not measured on gpu; the CPU claim is applied".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.causes import CPU, KERAS_ADAM, KERAS_TF_LOGITS, KERAS_TF_POWERS, TANH, Combine, Departure
from bridge.devices import parse
from bridge.parallel import DEFAULT_WORKERS
from bridge.problems import Classifier, Network, loop_of, with_changes
from bridge.rows import Row, get


@dataclass(frozen=True)
class Claim:
    """What compare() judges a run against: its departure (None: bitwise), a note, and how its workers combine."""

    departure: Departure | None = None
    note: str | None = None  # "not measured on gpu; the CPU claim is applied", where that is so
    combine: Combine | None = None  # a data-parallel row's combine rule, replayed from its workers' gradients


BITWISE = Claim()  # no departure allowed: what two trajectories with nothing claimed are held to


def claim_for(row, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS) -> Claim:
    """The claim a row (or its name) makes for this problem on this device."""
    row = row if isinstance(row, Row) else get(row)
    departure = expected_departure(row, problem, device, workers)
    return Claim(departure, unmeasured(row, device, loop_of(problem)), row.combine)


def expected_departure(row, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS) -> Departure | None:
    """Why this row (or its name) may depart from bitwise on this problem and device, or None: bitwise.

    A GPU run is held to the GPU claim where there is one, else to the CPU claim. A data-parallel
    row's claims add its worker count to the key.
    """
    row = row if isinstance(row, Row) else get(row)
    kind, loop = parse(device).kind, loop_of(problem)
    keys = [(loop, kind), (loop, CPU)]
    keys = [(*key, workers) for key in keys] + keys  # a data-parallel row's claims carry the worker count
    departure = next((row.claims[key] for key in keys if key in row.claims), None)
    if isinstance(problem, Network) and problem.activation == "tanh" and row.tanh:
        cause = "; ".join(c for c in (departure and departure.cause, TANH.format(row.tanh)) if c)
        flushes = bool(departure and departure.flushes)
        departure = Departure(cause, True, flushes, departure and departure.precision, tanh=row.tanh)
    if isinstance(problem, Classifier) and departure:
        departure = _classifying(row, problem, departure)
    if problem.dtype == "float64" and row.narrows and loop in row.narrows_in:
        causes = [c for c in (row.narrows, departure and departure.cause) if c]
        # every step rounds in float32 where the reference rounds in float64: it reorders, in effect
        if departure:
            return replace(departure, cause="; ".join(causes), reorders=True, precision="float32")
        return Departure("; ".join(causes), True, False, "float32")
    return departure


def unmeasured(row, device: str = "cpu", loop: str = "one_weight") -> str | None:
    """What a verdict must say where this row's claim was never measured on the device's kind."""
    row = row if isinstance(row, Row) else get(row)
    kind = parse(device).kind
    if kind == CPU:
        return None
    where = row.measured.get(kind)
    if where is not None and loop in where[1]:
        return None
    return f"not measured on {kind}; the CPU claim is applied"


def _classifying(row, problem, departure: Departure) -> Departure:
    """A classifier's departure: the row's exp and log, and what its Adam does its own way."""
    cause, powers = departure.cause, None
    if problem.optimizer == "adam" and row.adam_form == "epsilon_hat":
        cause += KERAS_ADAM
    if problem.optimizer == "adam" and problem.dtype == "float64" and row.adam_powers_from:
        cause, powers = cause + KERAS_TF_POWERS, row.adam_powers_from
    if not problem.from_logits and row.recovers_logits:
        cause += KERAS_TF_LOGITS
    return replace(departure, cause=cause, exp_log=row.exp_log, powers_from=powers)


def reference_problem(row, problem):
    """The problem the reference runs to be compared with this row: the same, except where the row computes
    another thing than the problem says, on purpose, and the reference can be moved to match: a row whose Adam
    puts epsilon elsewhere (Keras's epsilon-hat; torch's and optax's epsilon), and Keras on TensorFlow, whose loss
    from a softmax output is taken from the logits under it (no clip). The emulation that establishes each."""
    row = row if isinstance(row, Row) else get(row)
    if not isinstance(problem, Classifier):
        return problem
    changes = {}
    if problem.optimizer == "adam" and row.adam_form is not None:
        changes["epsilon_hat"] = row.adam_form == "epsilon_hat"
    if not problem.from_logits and row.recovers_logits:
        changes["from_logits"] = True
    changes = {k: v for k, v in changes.items() if getattr(problem, k) != v}
    return with_changes(problem, **changes) if changes else problem
