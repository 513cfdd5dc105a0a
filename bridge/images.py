"""The next lesson's images: scikit-learn's bundled digits by default, MNIST from files people already have.

Nothing is ever downloaded. Each set comes as read-only arrays: pixels scaled to [0, 1] and flattened (digits:
8 x 8 -> 64, pixels / 16; MNIST: 28 x 28 -> 784, pixels / 255), labels 0 to 9, in a fixed order and split.
A file that is missing, cut short, of the wrong shape, or holds a label out of range or a NaN pixel is refused
in one line (InvalidProblem), before anything is trained or written.
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.errors import FrameworkMissing, InvalidProblem

CLASSES = 10
DIGITS_TRAIN = 1437  # digits: the first 1,437 images train (80%), the last 360 test, in scikit-learn's order
IDX_FILES = {  # MNIST's four files, as LeCun's page names them (each may end in .gz)
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class Images:
    """A classification set: x rows of pixels in [0, 1], y labels 0-9; train and test kept apart."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str | None = None  # where it was read from: DIGITS, or an MNIST file or folder; None: given in memory


DIGITS = "digits"  # Images.source of scikit-learn's bundled digits
SYNTHETIC = "synthetic:"  # Images.source of synthetic(train, inputs): "synthetic:60000x784"


def load(source: str) -> Images:
    """The set read again from its source (Images.source): the digits, synthetic images, or MNIST from that path."""
    if source == DIGITS:
        return digits()
    if source.startswith(SYNTHETIC):
        train, inputs = source.removeprefix(SYNTHETIC).split("x")
        return synthetic(int(train), int(inputs))
    return mnist(source)


def synthetic(train: int = 60_000, inputs: int = 784, test: int = 10_000) -> Images:
    """An MNIST-sized stand-in for timing, the same for every run: pixels k / 255 drawn uniformly, each image's
    label the largest of ten fixed random projections (a rule a classifier can learn). Not real images."""
    rng = np.random.Generator(np.random.PCG64(784))
    x = rng.integers(0, 256, size=(train + test, inputs)) / 255.0
    projections = rng.standard_normal((inputs, CLASSES))
    y = np.argmax((x - 0.5) @ projections, axis=1)
    name = f"synthetic {train} x {inputs}"
    return _images(name, x[:train], y[:train], x[train:], y[train:], inputs, source=f"{SYNTHETIC}{train}x{inputs}")


def digits() -> Images:
    """scikit-learn's 1,797 bundled 8 x 8 digits (no download: they ship inside its wheel)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise FrameworkMissing("the digits need scikit-learn: pip install 'descent-bridge[digits]'") from None
    bunch = load_digits()
    x, y = bunch.data / 16.0, bunch.target  # pixels 0-16
    return _images("digits", x[:DIGITS_TRAIN], y[:DIGITS_TRAIN], x[DIGITS_TRAIN:], y[DIGITS_TRAIN:], 64)


def mnist(path) -> Images:
    """MNIST from Keras's mnist.npz, or from a folder holding the four IDX files (gzipped or not)."""
    where = Path(path)
    if not where.exists():
        raise InvalidProblem(f"--data {str(where)!r}: no such file or folder")
    if where.is_dir():
        arrays = {key: _idx(_find(where, name), key) for key, name in IDX_FILES.items()}
    else:
        arrays = _npz(where)
    for key in ("x_train", "x_test"):
        if arrays[key].ndim != 3 or arrays[key].shape[1:] != (28, 28):
            raise InvalidProblem(
                f"--data {str(where)!r}: {key} holds images of shape {arrays[key].shape[1:]}, not 28 x 28"
            )
    x_train, x_test = (arrays[k].reshape(len(arrays[k]), -1) / 255.0 for k in ("x_train", "x_test"))
    return _images(f"mnist ({where.name})", x_train, arrays["y_train"], x_test, arrays["y_test"], 784, where)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise InvalidProblem(f"--data {str(folder)!r}: the folder has no {name} (or {name}.gz)")


def _idx(path: Path, key: str) -> np.ndarray:
    """An IDX file: magic (0, 0, type, dimensions), each dimension's size (big-endian), then the values."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise InvalidProblem(f"--data {str(path)!r}: cannot read it: {error}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES:
        raise InvalidProblem(f"--data {str(path)!r}: not an IDX file (its first bytes are {data[:4].hex()})")
    dimensions = data[3]
    sizes = np.frombuffer(data[4 : 4 + 4 * dimensions], dtype=">u4")
    kind = np.dtype(IDX_TYPES[data[2]])
    expected = 4 + 4 * dimensions + kind.itemsize * int(np.prod(sizes, dtype=np.int64))
    if len(sizes) != dimensions or len(data) != expected:
        raise InvalidProblem(
            f"--data {str(path)!r}: {len(data)} bytes where its header promises {expected}: cut short?"
        )
    values = np.frombuffer(data, dtype=kind, offset=4 + 4 * dimensions).reshape(tuple(int(s) for s in sizes))
    wanted = 3 if key.startswith("x") else 1
    if dimensions != wanted:
        raise InvalidProblem(f"--data {str(path)!r}: {dimensions} dimensions where {key} needs {wanted}")
    return values


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [key for key in IDX_FILES if key not in stored.files]
            if missing:
                raise InvalidProblem(
                    f"--data {str(path)!r}: no {', '.join(missing)} in it (Keras's mnist.npz has all four)"
                )
            return {key: stored[key] for key in IDX_FILES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InvalidProblem(f"--data {str(path)!r}: not a readable .npz file: {error}") from None


def _images(name, x_train, y_train, x_test, y_test, inputs, where=None, source=None) -> Images:
    """The arrays checked and frozen: pixels finite in [0, 1], one label 0-9 per image."""
    shown = f"--data {str(where)!r}" if where is not None else name
    parts = {}
    for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.array(x, dtype=np.float64), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != inputs or len(x) == 0:
            raise InvalidProblem(f"{shown}: the {part} images are {x.shape}, not N x {inputs}")
        if y.shape != (len(x),):
            raise InvalidProblem(f"{shown}: {len(x)} {part} images but labels of shape {y.shape}")
        if not np.isfinite(x).all():
            first = int(np.argwhere(~np.isfinite(x))[0, 0])
            raise InvalidProblem(f"{shown}: {part} image {first} holds a NaN or infinite pixel")
        if x.min() < 0 or x.max() > 1:
            raise InvalidProblem(f"{shown}: {part} pixels span [{x.min():g}, {x.max():g}] after scaling, not [0, 1]")
        if not np.issubdtype(y.dtype, np.number) or (y != np.round(y)).any() or y.min() < 0 or y.max() >= CLASSES:
            raise InvalidProblem(f"{shown}: {part} labels must be whole numbers 0 to 9, got {y.min()} to {y.max()}")
        x.flags.writeable = False
        labels = y.astype(np.int64)
        labels.flags.writeable = False
        parts[part] = (x, labels)
    return Images(name, *parts["train"], *parts["test"], source or (DIGITS if where is None else str(where)))
