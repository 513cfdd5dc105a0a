"""The benchmark's peers (benchmarks/peers.py): each meets its claim, and each cause is pinned by experiment."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge
from benchmarks.peers import PEERS
from bridge.claims import reference_problem
from bridge.compare import compare
from bridge.devices import check, parse
from tests.helpers import SUITE, batched_problems, fused_one_weight, one_weight_problems

DOWNHILL = st.floats(min_value=0.0, max_value=2.0)  # torch.optim.SGD refuses a negative lr ("Invalid learning rate")

pytestmark = [pytest.mark.device, pytest.mark.slow]  # on the suite's --device; the benchmark's, so --full


def refusal(name: str) -> str | None:
    """Why this peer cannot run in this suite: not installed, or its framework cannot see --device."""
    peer = PEERS[name]
    if not peer.installed():
        return f"pip install 'descent-bridge[{peer.extra}]'"
    if not parse(SUITE["device"]).on_cpu:
        try:
            check(peer.requires[0], SUITE["device"])
        except bridge.DeviceUnavailable as error:
            return str(error)
    return None


LESSON_PEERS = tuple(n for n, peer in PEERS.items() if "batched" in peer.row.loops)
CLASSIFIER_PEERS = tuple(n for n, peer in PEERS.items() if "classifier" in peer.row.loops)


def peer_params(names=LESSON_PEERS):
    """One param per peer, skipped with the reason when it cannot run here."""
    return [
        pytest.param(name, id=name, marks=pytest.mark.skipif(refusal(name) is not None, reason=refusal(name) or ""))
        for name in names
    ]


def check_claim(name, problem):
    """On the suite's --device, against the CPU reference (on the problem as the peer's Adam writes it)."""
    peer = PEERS[name]
    own = reference_problem(peer.row, problem)
    verdict = compare(
        own,
        bridge.train("python", own),
        peer.train(problem, SUITE["device"]),
        peer.claim(problem, SUITE["device"]),
    )
    assert verdict.conforms, f"{name}: {verdict.summary()} on {problem!r}"
    return verdict


@pytest.mark.parametrize("dtype", ["float64", "float32"])
# the peers are the benchmark's one-weight and batched models; the network loop is not benchmarked against them
@pytest.mark.parametrize(
    "preset", [p for p in bridge.PRESETS if not isinstance(bridge.PRESETS[p], (bridge.Network, bridge.Classifier))]
)
@pytest.mark.parametrize("name", peer_params())
def test_peer_meets_its_claim(name, preset, dtype):
    check_claim(name, bridge.preset(preset, dtype))


@pytest.mark.parametrize("name", peer_params(tuple(PEERS)))
def test_peer_claims_a_cause_wherever_it_departs(name):
    for loop in PEERS[name].row.loops:
        assert PEERS[name].row.claims[(loop, "cpu")].cause


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("preset", ["digits", "digits_adam"])
@pytest.mark.parametrize("name", peer_params(CLASSIFIER_PEERS))
def test_classifier_peer_meets_the_claim_of_the_row_whose_operations_it_calls(name, preset, dtype):
    # 250 images in batches of 32, one epoch: nn.Linear's addmm and a per-batch jit hold to their twins' bounds
    check_claim(name, bridge.with_changes(bridge.preset(preset, dtype), train_size=250, epochs=1))


@pytest.mark.parametrize("name", peer_params())
@settings(max_examples=30)
@given(problem=one_weight_problems(DOWNHILL))
def test_peer_meets_its_claim_on_random_one_weight_problems(name, problem):
    check_claim(name, problem)


@pytest.mark.parametrize("name", peer_params())
@settings(max_examples=30)
@given(problem=batched_problems(DOWNHILL))
def test_peer_meets_its_claim_on_random_batched_problems(name, problem):
    check_claim(name, problem)


# Which of the lesson's two multiply-adds each peer fuses, found on the CPU: torch.optim.SGD only the update
# (its forward is a matmul, then nn.MSELoss's subtraction), optax under jax.jit both, as jax_jit.
FUSES = {"torch_sgd": {"forward": False, "update": True}, "optax_sgd": {"forward": True, "update": True}}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["lesson", "overshoot", "crawl", "explode"])
@pytest.mark.parametrize("name", peer_params())
def test_peer_departs_by_exactly_the_fused_multiply_adds_it_claims(name, preset, dtype):
    problem = bridge.preset(preset, dtype)
    emulated = fused_one_weight(problem, **FUSES[name])
    assert compare(problem, emulated, PEERS[name].train(problem)).status == "bitwise"  # no claim: bitwise
    cause = PEERS[name].claim(problem).departure.cause
    assert "fused multiply-add" in cause and ("w * x - y" in cause) == FUSES[name]["forward"]


def test_sgd_update_is_one_fused_multiply_add_on_the_cpu():
    # The cause in isolation: param.add_(grad, alpha=-lr), as torch.optim.SGD calls it, rounds once.
    torch = pytest.importorskip("torch")
    from tests.helpers import fma

    found = 0
    for weight, grad, lr in ((1.8955078125, 0.12, 0.9), (0.9, -8.1, 0.1), (2.7, 1.29, 0.01), (0.3, 1.1, 0.7)):
        for dtype in ("float64", "float32"):
            w, g = (torch.tensor(v, dtype=getattr(torch, dtype)) for v in (weight, grad))
            fused = fma(-float(torch.tensor(lr, dtype=w.dtype)), float(g), float(w), dtype)
            assert float(w.clone().add_(g, alpha=-lr)) == fused
            found += float(w - lr * g) != fused
    assert found, "no example tells one rounding from two: the check above proves nothing"
