"""IEEE helpers: float32 rounding in pure Python, bit equality and ULP distance."""

import decimal
import math
import struct

import numpy as np

DTYPES = ("float64", "float32")
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}  # u: half the gap above 1.0
_FORMAT = {"float64": ("<d", "<q", 64), "float32": ("<f", "<i", 32)}


def to_float32(value: float) -> float:
    """Round a float to the nearest float32 (ties to even), overflow to +-inf."""
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # struct refuses exactly the values that round to inf
        return math.copysign(math.inf, value)


def rounder(dtype: str):
    """The function that rounds a float64 result to dtype (identity for float64)."""
    return float if dtype == "float64" else to_float32


def same_bits(a: float, b: float) -> bool:
    """Bitwise equality, except that every NaN matches every NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def _ordinal(value: float, dtype: str) -> int:
    """Position of value on the line of representable numbers (+0 and -0 both 0)."""
    fmt, int_fmt, bits = _FORMAT[dtype]
    n = struct.unpack(int_fmt, struct.pack(fmt, value))[0]
    return n if n >= 0 else -(n & ((1 << (bits - 1)) - 1))


def ulp_distance(a: float, b: float, dtype: str) -> float:
    """How many representable dtype numbers lie between a and b; inf if only one is NaN."""
    if math.isnan(a) or math.isnan(b):
        return 0 if math.isnan(a) and math.isnan(b) else math.inf
    return abs(_ordinal(a, dtype) - _ordinal(b, dtype))


def gamma(k: int, dtype: str) -> float:
    """Higham's gamma_k = k*u / (1 - k*u): the relative error of k chained roundings."""
    ku = k * UNIT_ROUNDOFF[dtype]
    return ku / (1 - ku) if ku < 1 else math.inf


def tanh_rounded(value: float, dtype: str) -> float:
    """tanh(value) correctly rounded to dtype: computed with decimal at growing precision until the rounding is sure.

    Ziv's strategy: two precisions, the second twice the first, must round to
    the same number; the first has enough digits for the cancellation of
    e^(2x) - 1 near 0. No library's tanh promises this; the reference needs it.
    """
    if value == 0 or not math.isfinite(value):
        return math.tanh(value)  # +-0, +-1 and NaN are exact
    digits = 40 + max(0, -math.floor(math.log10(abs(value))))
    found = [_tanh_at(value, digits, dtype)]
    while True:
        digits *= 2
        found.append(_tanh_at(value, digits, dtype))
        if found[-1] == found[-2]:
            return found[-1]


def _tanh_at(value: float, digits: int, dtype: str) -> float:
    with decimal.localcontext() as context:
        context.prec = digits
        twice = (2 * decimal.Decimal(value)).exp()
        exact = (twice - 1) / (twice + 1)
        nearest = float(exact)  # correctly rounded to float64
        if dtype == "float64":
            return nearest
        nearest = to_float32(nearest)  # then the float32 neighbour nearest to `exact`, checked exactly
        neighbours = [float(n) for n in np.nextafter(np.float32(nearest), np.float32([-2, 2]))]
        return min([nearest, *neighbours], key=lambda f: (abs(decimal.Decimal(f) - exact), f != nearest))
