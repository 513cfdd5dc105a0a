"""Training a row on a problem: every refusal first, then the row's own runner (bridge.runners)."""

from __future__ import annotations

from bridge import budget
from bridge.devices import parse
from bridge.errors import DeviceUnavailable
from bridge.parallel import DEFAULT_WORKERS
from bridge.problems import PROBLEMS
from bridge.rows import KERAS_WORKER, REGISTRY, Row, get, reference_row
from bridge.runners import runner_for
from bridge.trajectory import Trajectory


def row_of(name_or_row) -> Row:
    """A row, given one or its name: a name is looked up once, at the edge."""
    return name_or_row if isinstance(name_or_row, Row) else get(name_or_row)


def train(name, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS) -> Trajectory:
    """Run one implementation (a name or a row) on one problem and return its trajectory.

    workers: how many workers a data-parallel row splits each batch across (1 to parallel.MAX_WORKERS);
    the single-process rows have one, whatever it says.
    """
    row, device = row_of(name), parse(device)
    return run(row, problem, device, prepare(row, problem, device, workers), workers)


def start(name, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS):
    """Begin a run, every refusal now; return a function that waits for its trajectory.

    A Keras row's worker starts training at once, alongside whatever this
    process does next; an in-process row runs when the function is called.
    """
    row = row_of(name)
    check(row, problem, device)
    device = parse(device)
    waiting = runner_for(row).start(row, problem, device, workers)
    return lambda: _labelled(waiting(), row, problem, device)


def check(row: Row, problem, device="cpu") -> None:
    """What every run is refused for, before anything starts: the problem, the device, the budget, the framework."""
    if not isinstance(problem, PROBLEMS):
        raise TypeError(
            f"problem must be a bridge.OneWeight, Batched, Network or Classifier, got {type(problem).__name__}"
        )
    parse(device)  # an unknown device name fails the same way for every implementation, before the rest
    budget.check_run(row.name, row.cost, problem)  # a run too long to record is refused before it starts
    row.check_loop(problem)
    if not row.installed():
        raise row.missing()


def prepare(name, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS):
    """Step 0 of a run: the problem's data on the device, as the row's loop reads it (a benchmark times it apart)."""
    row = row_of(name)
    check(row, problem, device)
    return runner_for(row).prepare(row, problem, parse(device), workers)


def run(name, problem, device: str = "cpu", data=None, workers: int = DEFAULT_WORKERS) -> Trajectory:
    """The training loop itself, on data from prepare(name, problem, device)."""
    row, device = row_of(name), parse(device)
    return _labelled(runner_for(row).run(row, problem, device, data, workers), row, problem, device)


def _labelled(trajectory: Trajectory, row: Row, problem, device: str) -> Trajectory:
    """The trajectory, marked with the row, dtype and device that produced it (for a person reading it)."""
    trajectory.implementation, trajectory.dtype, trajectory.device = row.name, problem.dtype, str(device)
    return trajectory


def refusals(device: str) -> dict[str, str]:
    """For each installed GPU-capable implementation whose framework cannot run on the device: why not.

    Raises DeviceUnavailable when none of them can: nothing would run there.
    """
    if parse(device).on_cpu:
        return {}
    found = {}
    candidates = [row for row in REGISTRY.values() if row.gpu and row.installed()]
    for row in candidates:
        try:
            row.check_device(device)
        except DeviceUnavailable as error:
            found[row.name] = str(error)
    if len(found) == len(candidates):
        seen = "; ".join(dict.fromkeys(found.values())) or "no implementation that runs on a GPU is installed"
        raise DeviceUnavailable(f"nothing installed here runs on {device}: {seen}")
    return found


# ---- what a command runs, and what it holds at once ----


def rows_to_run(asked, device: str, problem=None) -> tuple[list[str], list[dict]]:
    """The installed rows a command runs, each able to use the device; and the uninstalled ones, skipped.

    asked: the names given (None: every row with a loop for the problem; the data-parallel rows run the
    batched loop only). Everything that can be refused is refused here, before anything runs.
    """
    names = asked or [row.name for row in REGISTRY.values() if problem is None or row.applies(problem)]
    for name in names:
        get(name)
    run, skipped = [], []
    for name in dict.fromkeys(names):
        row = REGISTRY[name]
        if not row.installed():
            if asked:  # asked for by name: missing is an error
                raise row.missing()
            skipped.append({"implementation": name, "install": row.install_hint()})
            continue
        run.append(name)
    check_devices(run, device)
    return run, skipped


def check_devices(names, device: str) -> None:
    """Raise DeviceUnavailable, before anything runs, unless every GPU-capable row here can use the device."""
    for name in names:
        where = REGISTRY[name].device_for(device)
        if not where.on_cpu:
            REGISTRY[name].check_device(where)


def stored(name: str, problem) -> int:
    """Bytes a run of this row on this problem keeps at its peak (bridge.budget, the row's cost)."""
    return budget.stored(get(name).cost, problem)


def held(problem, names) -> dict[str, int]:
    """The bytes a command holds at once: the reference, every Keras row (they run concurrently), the largest other."""
    reference = reference_row().name
    together = {reference: stored(reference, problem)}
    others = [n for n in names if n != reference and REGISTRY[n].runner != KERAS_WORKER]
    together |= {n: stored(n, problem) for n in names if REGISTRY[n].runner == KERAS_WORKER}
    if others:
        largest = max(others, key=lambda n: stored(n, problem))
        together[largest] = stored(largest, problem)
    return together
