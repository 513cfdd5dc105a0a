"""Recording on the device: each value copied as it is recorded, read back once, with no wait per step."""

import sys
from pathlib import Path

import pytest

import bridge
from bridge.devices import parse
from bridge.recording import Recorder
from tests.helpers import KeepsReferences, device_for, impl_params, train

ROOT = Path(__file__).resolve().parent.parent
TWO_STEPS = bridge.OneWeight(x=1.5, y=3.0, w0=0.0, lr=0.1, steps=2)


def weights_recorded(recorder, weight, step_in_place) -> list[float]:
    """Two updates of a weight that changes in place, as the recorder read them back."""
    for _ in range(2):
        recorder.record(weight * 2, weight * 3, weight)
        step_in_place(weight)
    return recorder.read().weights


def test_torch_recorder_copies_a_tensor_changed_in_place():
    torch = pytest.importorskip("torch")
    from bridge.recording import TorchRecorder

    weight = torch.tensor(1.0, dtype=torch.float64)  # in place, as torch_autograd's step under no_grad
    assert weights_recorded(TorchRecorder(TWO_STEPS, "cpu"), weight, lambda w: w.sub_(0.5)) == [1.0, 0.5]


def test_tf_recorder_copies_a_variable_changed_in_place():
    tf = pytest.importorskip("tensorflow")
    from bridge.recording import TFRecorder

    weight = tf.Variable(1.0, dtype=tf.float64)  # as tf_tape's step
    assert weights_recorded(TFRecorder(TWO_STEPS), weight, lambda w: w.assign_sub(0.5)) == [1.0, 0.5]


def test_keeping_references_would_record_the_final_weight_at_every_step():
    torch = pytest.importorskip("torch")
    weight = torch.tensor(1.0, dtype=torch.float64)
    found = weights_recorded(KeepsReferences(TWO_STEPS), weight, lambda w: w.sub_(0.5))
    assert found == [0.0, 0.0], "the trap the recorders avoid"


def test_a_run_with_no_update_reads_back_empty_lists():
    assert Recorder(bridge.with_changes(TWO_STEPS, steps=0)).read() == bridge.Trajectory()


TORCH_ROWS = impl_params(["torch_manual", "torch_autograd", "torch_compile"])


@pytest.mark.device
@pytest.mark.parametrize("name", TORCH_ROWS)
def test_torch_rows_never_read_a_value_during_the_loop(name, monkeypatch):
    # On the CPU, a stand-in for the GPU check below: float(), .item() and .tolist() on a tensor would each wait
    # for a GPU. The project's code calls none of them; the recorder reads its whole buffer once, with .cpu().
    # (Dynamo's own calls, while it compiles, are let through.)
    import torch

    ours = tuple(str(ROOT / folder) for folder in ("impl", "bridge"))
    for method in ("__float__", "item", "tolist"):
        real = getattr(torch.Tensor, method)

        def watched(self, *args, method=method, real=real):
            caller = sys._getframe(1).f_code.co_filename
            assert not caller.startswith(ours), f"{name} called Tensor.{method} in {caller}"
            return real(self, *args)

        monkeypatch.setattr(torch.Tensor, method, watched)
    for preset in ("lesson", "mini_batch", "bias"):
        train(name, bridge.preset(preset))


@pytest.mark.device
@pytest.mark.parametrize("name", TORCH_ROWS)
def test_torch_rows_synchronise_the_gpu_a_fixed_number_of_times(name):
    # On a GPU: torch counts every call that waits for the device (sync debug mode "warn"). A run of 5 updates
    # and one of 50 must wait the same number of times: none per step.
    import warnings

    import torch

    if parse(device_for(name)).kind != "gpu":
        pytest.skip("needs --device cuda: only a GPU synchronises")
    train(name, bridge.with_changes(bridge.preset("lesson"), steps=3))  # compile first

    def waits(steps):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train(name, bridge.with_changes(bridge.preset("lesson"), steps=steps))
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    assert waits(5) == waits(50)
