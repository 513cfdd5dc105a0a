"""Device names, and a clear refusal where the device is absent."""

import pytest

import bridge
from bridge.devices import parse
from tests.helpers import impl_params, verdict_of


@pytest.mark.parametrize(
    "name, expected",
    [
        ("cpu", ("cpu", 0)),
        ("cuda", ("gpu", 0)),
        ("gpu", ("gpu", 0)),
        ("CUDA:1", ("gpu", 1)),
        (" gpu:2 ", ("gpu", 2)),
    ],
)
def test_device_names(name, expected):
    device = parse(name)
    assert (device.kind, device.index) == expected and str(device) == name, "shown as it was asked for"
    assert parse(device) is device, "a device is parsed once: a Device passes through as it is"


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cpu:-1", "", "mps"])
def test_unknown_device_is_refused(name):
    with pytest.raises(bridge.DeviceUnavailable, match="unknown device"):
        parse(name)


def _gpu_count(framework: str) -> int:
    if framework == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if framework == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:
        return 0


GPU_ROWS = [n for n in bridge.IMPLEMENTATIONS if bridge.REGISTRY[n].gpu]


@pytest.mark.parametrize("name", impl_params(GPU_ROWS, parallel=True))  # refused before any launcher starts
def test_absent_gpu_is_refused_with_a_clear_message(name):
    impl = bridge.REGISTRY[name]
    present = _gpu_count(impl.device_check)
    problem = bridge.PRESETS["mini_batch" if impl.parallel else "lesson"]
    with pytest.raises(bridge.DeviceUnavailable, match=f"device 'cuda:{present}' is not available to"):
        bridge.train(name, problem, device=f"cuda:{present}")


@pytest.mark.device
@pytest.mark.parametrize("name", impl_params(GPU_ROWS))
def test_gpu_run_conforms_where_a_gpu_is_present(name):
    impl = bridge.REGISTRY[name]
    if _gpu_count(impl.device_check) == 0:
        pytest.skip("no GPU on this machine")
    for preset in ("lesson", "mini_batch"):
        problem = bridge.preset(preset)
        verdict = verdict_of(name, problem, candidate=bridge.train(name, problem, "cuda"), device="cuda")
        assert verdict.conforms, verdict.summary()


@pytest.mark.parametrize("name", ["python", "numpy"])
def test_cpu_only_implementations_refuse_a_gpu(name):
    with pytest.raises(bridge.DeviceUnavailable, match=f"{name} runs on the CPU only"):
        bridge.train(name, bridge.PRESETS["lesson"], device="gpu")


def test_jax_x64_does_not_leak():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    bridge.train("jax_grad", bridge.preset("lesson", "float64"))
    bridge.train("jax_grad", bridge.preset("mini_batch", "float64"))
    assert jax.config.jax_enable_x64 == before
    if not before:
        assert jax.numpy.zeros(1).dtype == "float32"


def test_jax_float64_run_really_is_float64():
    pytest.importorskip("jax")
    trajectory = bridge.train("jax_grad", bridge.preset("lesson", "float64"))
    assert trajectory.weights[1] == 1.395 and bridge.floats.to_float32(trajectory.weights[1]) != 1.395


def on_a_gpu(name: str, problem) -> bridge.Trajectory:
    """A CPU run labelled as a GPU's: what the report says of a row, whatever the numbers."""
    trajectory = bridge.train(name, problem)
    trajectory.device = "cuda"
    return trajectory


@pytest.mark.parametrize("name", impl_params(["tf_tape", "tf_function", "keras_tensorflow"]))
def test_a_claim_never_measured_on_a_gpu_says_so(name):
    problem = bridge.preset("lesson")
    verdict = verdict_of(name, problem, candidate=on_a_gpu(name, problem), device="cuda")
    assert verdict.note == "not measured on gpu; the CPU claim is applied"
    assert verdict.summary().endswith("not measured on gpu; the CPU claim is applied")


@pytest.mark.parametrize("name", sorted(n for n, row in bridge.REGISTRY.items() if "gpu" in row.measured))
def test_a_claim_measured_on_a_gpu_carries_no_note(name):
    assert bridge.claims.unmeasured(name, "cuda") is None
    assert bridge.claims.unmeasured("tf_tape", "cpu") is None, "every claim is measured on the CPU"


def test_compare_table_footnotes_the_unmeasured_gpu_claims(monkeypatch, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    from bridge import cli

    # the rows run on the CPU, and are labelled as a GPU's; the device check up front lets them through
    monkeypatch.setattr(bridge.rows.Row, "check_device", lambda self, device: None)
    monkeypatch.setattr(
        cli.commands, "start", lambda name, problem, device="cpu", workers=2: lambda: on_a_gpu(name, problem)
    )
    assert cli.main(["compare", "--impl", "python", "torch_manual", "tf_tape", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in bridge.REGISTRY}
    assert rows["torch_manual"].rstrip().endswith("same bits"), "measured on an H200: no note"
    assert rows["tf_tape"].rstrip().endswith("same bits [1]")
    assert "  [1] not measured on gpu; the CPU claim is applied" in out
