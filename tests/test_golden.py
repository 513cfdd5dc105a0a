"""What a user sees stays what it was: descent's output on the lesson, mini_batch and mlp, against tests/golden/.

A change that is meant rewrites the files (python tests/golden/capture.py --write NAME); the diff then shows it.
The commands that train every row (compare, grads on batches, a data-parallel run) are long: the stress profile.
"""

import pytest

from tests.golden.capture import COMMANDS, HERE, output
from tests.helpers import stress

LONG = {name for name in COMMANDS if name.startswith("compare-") or name in ("grads-mini_batch", "grads-mlp")}
LONG.add("run-torch_ddp-mini_batch-json")

pytestmark = [pytest.mark.slow, pytest.mark.process]  # each command in a fresh interpreter


@pytest.mark.parametrize("name", [pytest.param(n, marks=[stress] if n in LONG else []) for n in COMMANDS])
def test_output_is_as_recorded(name):
    recorded = (HERE / f"{name}.txt").read_text()
    assert output(COMMANDS[name]) == recorded, f"descent {' '.join(COMMANDS[name])} changed: see capture.py"
