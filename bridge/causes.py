"""Why a row may depart from bitwise: the cause phrases, named once, and the two kinds of claim a row makes.

Each phrase was established by experiment (tests/test_causes.py, tests/test_network.py,
tests/test_keras.py, tests/test_parallel.py); the rows (bridge/rows.py) compose them.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU, GPU = "cpu", "gpu"  # the device kinds a claim is keyed by (bridge.devices.parse)


@dataclass(frozen=True)
class Departure:
    """Why an implementation may not be bitwise, and so which bound applies."""

    cause: str
    reorders: bool = False  # its sums round differently from the reference at every step
    flushes: bool = False  # subnormal operands and results become zero
    precision: str | None = None  # the dtype it computes in, where narrower than the problem's
    tanh: str | None = None  # whose tanh it calls, a key of bounds.TANH_ULPS (a network with tanh only)
    exp_log: str | None = None  # whose exp and log it calls, a key of classifier_bounds.EXP_LOG_ULPS (a classifier)
    powers_from: str | None = None  # Adam: the dtype it rounds beta to before beta^t, where narrower (Keras on TF)
    scalings: int = 0  # roundings a data-parallel row adds to every gradient's path (its 1/N and N scalings)


@dataclass(frozen=True)
class Combine:
    """How an engine's all-reduce makes one gradient of the workers' own: the rule the replay follows.

    What the engine's documentation fixes (documented) is kept apart from what was only observed: where 1/N
    is applied and the order the workers' gradients are added in, per worker count (tests/test_parallel.py
    finds both at 3 workers among every alternative, on data where the alternatives give other bits).
    """

    rule: str  # what it computes, in words
    documented: str = ""  # what the engine's documentation says it computes; the rest of the rule is observed
    reciprocal: bool = False  # each worker's gradient is multiplied by fl(1/N) before the sum (observed)
    orders: tuple[tuple[int, ...], ...] = ()  # observed: for N workers, the order the sum adds them, left to right
    unreplayed: str | None = None  # why its workers' gradients cannot be replayed (then rule says what it does)

    def order(self, workers: int) -> tuple[int, ...] | None:
        """The order its sum adds this many workers' gradients in, where observed; one worker has nothing to add."""
        return next((o for o in self.orders if len(o) == workers), (0,) if workers == 1 else None)


# ---- one weight and batches ----
ORDER = " sums the batch in its own order; the reference sums left to right"
AUTOGRAD_MEAN = "; autograd's mean scales each term by 1/n before summing"
FMA = "compiled XLA fuses w * x - y and w - lr * grad into fused multiply-adds (one rounding, not two)"
FLUSH = "{} flushes subnormal numbers to zero (FTZ/DAZ on its CPU threads)"
NUMPY_PAIRWISE = "np.mean sums pairwise, 8 partial sums at a time; the reference left to right"
VALUE_MEAN = "the mean's backward scales each term by 1/n before summing, and backward() adds them last sample first"
KERAS_ORDER = (
    "loss='mse' sums the batch, and the kernel's gradient is a matmul over it, in the backend's own order; "
    "the reference sums left to right" + AUTOGRAD_MEAN.replace("autograd's mean", "autodiff")
)
KERAS_TORCH_ZERO = "the kernel's gradient is a matmul, whose sum starts from +0.0, so a -0.0 gradient comes out +0.0"
TRITON_FMA = (
    "Inductor's Triton kernels fuse w * x - y and w - lr * grad into fused multiply-adds (one rounding, not two): "
    "Inductor passes enable_fp_fusion=True to Triton (emulate_precision_casts=True turns it off: bitwise)"
)
KERAS_XLA = (
    "Keras's JAX trainer compiles each step with XLA (jit_compile='auto'), which fuses multiply-adds into FMAs "
    "(compile(jit_compile=False) runs op by op: bitwise)"
)

# ---- the network loop ----
NETWORK_ORDER = " sums a batch (over the samples) in its own order; the reference sums left to right"
NUMPY_DOT = (
    "h @ W2 goes to OpenBLAS, whose float32 dot adds the H products in its own order (float64 at H <= 8: left to "
    "right, fused into multiply-adds on an AVX-512 CPU; both dtypes on mlp: the reference's bits, measured)"
)
TORCH_DOT = (
    "torch's CPU matmul adds h @ W2's products left to right, fused into multiply-adds on some CPUs (an Intel Xeon "
    "with AVX-512, measured: one rounding a term, not two)"
)
XLA_DOT = "XLA's CPU dot adds h @ W2's products with fused multiply-adds, left to right (one rounding a term, not two)"
_ZERO_SIGN = (
    "{}, so the gradient of a unit that is off comes out -0.0 where the reference's (the mask times the error, "
    "then a sum from +0.0) is +0.0, or the other way round: only the sign of a zero"
)
TF_ZERO = _ZERO_SIGN.format("TensorFlow's sums over the batch keep a lone -0.0")
JAX_ZERO = _ZERO_SIGN.format("jax.nn.relu's gradient selects +0.0 for an off unit, and x^T dz makes it -0.0 for x < 0")
VALUE_ZERO = _ZERO_SIGN.format("a Value's gradient starts from -0.0 (IEEE's zero for sums)")
COMPILED_ZERO = _ZERO_SIGN.format("the compiled mean over the batch starts from its first term")
TANH = "its tanh ({}) is not correctly rounded, the reference's is; and it writes tanh's derivative in its own order"

# ---- the classifier loop (established in tests/test_classifier.py) ----
CLASSIFIER_ORDER = (
    " matrix products (x @ W1 over the pixels, h @ W2 over the units, and the backward pass's over the batch) sum in "
    "its own order, fused into multiply-adds where it can; the reference sums left to right"
)
FMA_CLASSIFIER = "compiled XLA fuses the whole step, multiply-adds into FMAs and the softmax into one kernel"
VALUE_CLASSIFIER = (
    "backward() adds each weight's gradient, one Value at a time, in the graph's reverse order (the batch's last "
    "image first), where the reference sums the batch from its first; the forward pass is the reference's, bit for bit"
)
INDUCTOR_CLASSIFIER = "TorchInductor compiles the hand-derived step into fused C++ loops (the softmax in one)"
EXP_LOG = "; its exp and log ({}) are not the reference's (libm's), each within its measured ULP"
KERAS_ADAM = (
    "; Keras's Adam adds epsilon to sqrt(v) before the bias correction (the paper's epsilon-hat), so it is held to "
    "the reference moved the same way"
)
KERAS_TF_POWERS = (
    "; in float64, Keras on TensorFlow reads beta_1 and beta_2 as float32 before beta^t (tf.cast of a Python float "
    "makes a float32 constant first)"
)
KERAS_TF_LOGITS = (
    "; Keras on TensorFlow takes a softmax output's loss from the logits under it (no clip at 1e-7: "
    "keras.src.backend.tensorflow.nn._get_logits), so it is held to the reference from logits"
)
KERAS_FLOATX = "; a Keras optimizer holds its learning rate in floatx, set to the problem's dtype for the run"

# ---- Keras's float64 -> float32 type promotion (tests/test_keras.py pins it) ----
_PROMOTION = (
    "Keras's type promotion turns float64 into float32 on its {} backend "
    "(keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE): {}; no public setting keeps float64"
)
KERAS_JAX_NARROWS = _PROMOTION.format(
    "JAX", "loss='mse' takes its mean in float32, so the loss and the 1/n are rounded"
)
KERAS_TORCH_NARROWS = _PROMOTION.format(
    "torch", "Dense's matmul, and with it the loss and the gradient, run in float32"
)
KERAS_DP_NARROWS = _PROMOTION.format("JAX", "the loss and its weighted mean are taken in float32")

# ---- data-parallel rows (established in tests/test_parallel.py) ----
SPLIT = (
    "the batch is split across {} workers, each summing its own share of the mean (sum / n), and the all-reduce "
    "adds the shares: a different order from the reference's left-to-right sum"
)
ONE_WORKER = (
    "one worker sums the whole batch's share of the mean (sum / n) in its engine's order, and the all-reduce "
    "has nothing to add: a different order from the reference's left-to-right sum"
)
DDP_SCALING = (
    "; each share is scaled by N and DDP's reducer multiplies each worker's gradient by fl(1/N) before the sum "
    "(two roundings more, where N is not a power of two)"
)
SHARDED_XLA = "; XLA compiles each device's step (fused multiply-adds)"
KERAS_DP = (
    "; Keras's JAX trainer compiles the step with XLA (fused multiply-adds), and the all-reduce with it; padding "
    "weighs 0 and the loss divides by the weights' sum"
)
DDP_COMBINE = "each worker's gradient times fl(1/N) (DDP's reducer, as it copies it into its bucket), then gloo's sum"
DDP_DOCUMENTED = "DDP averages the gradients over the processes (torch.nn.parallel.DistributedDataParallel)"
PSUM_COMBINE = "jax.lax.psum: the devices' gradients added, nothing scaled"
PSUM_DOCUMENTED = "psum adds the values over the named axis (jax.lax.psum)"
MIRRORED_COMBINE = "all_reduce(SUM) in the replica context: the replicas' gradients added"
MIRRORED_DOCUMENTED = "ReduceOp.SUM adds the replicas' values (tf.distribute.ReplicaContext.all_reduce)"
KERAS_DP_UNSEEN = (
    "its all-reduce is compiled into the step by XLA, so its order is never seen; each device's own gradient is "
    "computed again, on the rows the compiled step's layout gave that device"
)
KERAS_DP_DOCUMENTED = "DataParallel splits each batch along the devices and keeps the model replicated"

# Where a row's GPU claims were measured (issue 9): every preset, both dtypes, and for the eager rows 150 random
# problems; the network loop came later and was not measured there.
H200 = "NVIDIA H200, torch 2.11.0+cu130, Triton 3.6.0, jax 0.11.2 (CUDA), keras 3.15.1 (issue 9)"
H200_LOOPS = ("one_weight", "batched")


def plain(cause: str, reorders: bool = True, **more) -> Departure:
    """A departure that rounds differently (by default: it reorders) and flushes nothing."""
    return Departure(cause, reorders, **more)


def flushes(who: str, reorder: str = "") -> Departure:
    """A departure that flushes subnormals (who: TensorFlow or XLA), reordering too where reorder says how."""
    return Departure(f"{reorder}; {FLUSH.format(who)}" if reorder else FLUSH.format(who), bool(reorder), True)


def split(workers: int, flusher: str | None, more: str = "", scalings: int = 0) -> Departure:
    """A data-parallel row's departure at this many workers: the split, what the row adds, who flushes."""
    cause = (SPLIT.format(workers) if workers > 1 else ONE_WORKER) + more
    cause += f"; {FLUSH.format(flusher)}" if flusher else ""
    return Departure(cause, True, bool(flusher), scalings=scalings)


# ---- the same causes in a student's words: what `descent compare` prints by default (--why: the whole cause) ----
# Each pair: a phrase that appears in a cause above, and what it means in plain words; found in this order.
PLAIN_WORDS = (
    ("epsilon-hat", "Adam's epsilon moved"),
    ("as float32 before beta", "beta read as float32"),
    ("no clip at 1e-7", "its loss from the logits"),
    ("split across", "the batch split over workers"),
    ("multiply-add", "fused multiply-add"),
    ("one worker sums", "its engine's own order"),
    ("sums pairwise", "adds in pairs"),
    ("own order", "adds up in another order"),
    ("1/n before summing", "scales by 1/n first"),
    ("fl(1/N)", "DDP's 1/N"),
    ("flushes subnormal", "tiny numbers become 0"),
    ("sign of a zero", "the sign of a zero"),
    ("-0.0 gradient comes out +0.0", "the sign of a zero"),
    ("its tanh", "its own tanh"),
    ("matrix products", "adds up in another order"),
    ("its exp and log", "its own exp and log"),
)
PLAIN_LENGTH = 70  # the most a plain cause may take: one glance


def in_plain_words(departure: Departure) -> str:
    """The departure's cause in a few plain words (at most PLAIN_LENGTH characters): what a student reads first."""
    words = [f"computes in {departure.precision}"] if departure.precision else []
    for phrase, plain in PLAIN_WORDS:
        if phrase in departure.cause and plain not in words:
            words.append(plain)
    kept = []
    for word in words or ["rounds in another order"]:
        if len(", ".join([*kept, word])) <= PLAIN_LENGTH:
            kept.append(word)
    return ", ".join(kept)
