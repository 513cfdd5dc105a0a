"""The next lesson's images: the bundled digits, MNIST from the files people have, and every bad file refused."""

import gzip
import struct

import numpy as np
import pytest

from bridge.errors import InvalidProblem
from bridge.images import IDX_FILES, digits, mnist

RNG = np.random.default_rng(7)
X_TRAIN = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
X_TEST = RNG.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
Y_TRAIN, Y_TEST = np.array([0, 9, 3, 3, 7], dtype=np.uint8), np.array([1, 2, 9], dtype=np.uint8)
ARRAYS = {"x_train": X_TRAIN, "y_train": Y_TRAIN, "x_test": X_TEST, "y_test": Y_TEST}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written by hand: two zero bytes, 0x08 (unsigned bytes), the dimensions, their sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(folder, arrays=ARRAYS, gz=False):
    folder.mkdir(exist_ok=True)
    for key, name in IDX_FILES.items():
        data = idx_bytes(arrays[key])
        (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return folder


def test_digits_are_scikit_learns_bundled_images_scaled_and_split_in_a_fixed_order():
    pytest.importorskip("sklearn")
    images = digits()
    assert images.x_train.shape == (1437, 64) and images.x_test.shape == (360, 64)
    assert list(images.x_train[0, :8] * 16) == [0, 0, 5, 13, 9, 1, 0, 0] and images.y_train[0] == 0  # the first "0"
    assert images.x_train.min() == 0 and images.x_train.max() == 1
    assert set(images.y_train.tolist()) == set(range(10))
    with pytest.raises(ValueError):
        images.x_train[0, 0] = 1.0  # read-only: shared by every row, edited by none


@pytest.mark.parametrize("form", ["npz", "idx", "idx.gz"])
def test_mnist_loads_from_keras_npz_and_from_idx_files_plain_or_gzipped(form, tmp_path):
    if form == "npz":
        np.savez(tmp_path / "mnist.npz", **ARRAYS)
        path = tmp_path / "mnist.npz"
    else:
        path = write_idx(tmp_path / "mnist", gz=form.endswith("gz"))
    images = mnist(path)
    assert images.x_train.shape == (5, 784) and images.x_test.shape == (3, 784)
    assert (images.x_train * 255 == X_TRAIN.reshape(5, -1)).all(), "pixels / 255, row by row, in file order"
    assert images.y_train.tolist() == [0, 9, 3, 3, 7] and images.y_test.tolist() == [1, 2, 9]


def _truncated(folder):
    path = write_idx(folder) / IDX_FILES["x_test"]
    path.write_bytes(path.read_bytes()[:-1])
    return folder


def _bad_magic(folder):
    path = write_idx(folder) / IDX_FILES["y_train"]
    path.write_bytes(b"\x01\x02" + path.read_bytes()[2:])
    return folder


def _npz(tmp, **changes):
    np.savez(tmp / "m.npz", **(ARRAYS | changes))
    return tmp / "m.npz"


BAD = {
    "missing": (lambda tmp: tmp / "nowhere.npz", "no such file"),
    "a key missing": (lambda tmp: (np.savez(tmp / "m.npz", x_train=X_TRAIN), tmp / "m.npz")[1], "no y_train"),
    "not an npz": (lambda tmp: (tmp.joinpath("m.npz").write_text("hello"), tmp / "m.npz")[1], "not a readable"),
    "an IDX file missing": (lambda tmp: (write_idx(tmp / "f") / IDX_FILES["y_test"]).unlink() or tmp / "f", "no t10k"),
    "an IDX file cut short": (lambda tmp: _truncated(tmp / "f"), "cut short"),
    "not an IDX file": (lambda tmp: _bad_magic(tmp / "f"), "not an IDX file"),
    "a broken gzip": (
        lambda tmp: (
            write_idx(tmp / "f"),
            (tmp / "f" / IDX_FILES["y_test"]).unlink(),
            (tmp / "f" / (IDX_FILES["y_test"] + ".gz")).write_bytes(b"\x1f\x8bjunk"),
            tmp / "f",
        )[-1],
        "cannot read it",
    ),
    "images 27 x 28": (lambda tmp: _npz(tmp, x_test=X_TEST[:, :27]), "not 28 x 28"),
    "a label of 10": (lambda tmp: _npz(tmp, y_train=np.array([0, 9, 3, 10, 7])), "labels must be whole numbers 0 to 9"),
    "labels for fewer images": (lambda tmp: _npz(tmp, y_test=Y_TEST[:2]), "labels of shape"),
    "a NaN pixel": (lambda tmp: _npz(tmp, x_train=np.where(X_TRAIN == X_TRAIN[1, 2, 3], np.nan, X_TRAIN)), "NaN"),
    "pixels beyond 255": (lambda tmp: _npz(tmp, x_test=X_TEST.astype(np.int32) + 300), "not [0, 1]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_in_one_line_naming_it(case, tmp_path):
    make, said = BAD[case]
    path = make(tmp_path)
    with pytest.raises(InvalidProblem) as refused:
        mnist(path)
    message = str(refused.value)
    assert said in message and "\n" not in message, message
    assert str(path) in message or path.name in message
