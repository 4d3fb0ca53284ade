"""numpy support for memokey's encoder (internal).

memokey._core calls these for every numpy array that is not already a
C-contiguous little-endian array of an RFC 8746 dtype, and for numpy scalars.
This module is imported only when such an object is met, so numpy stays an
optional dependency: without numpy installed, no array can occur.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# dtype.str (little-endian) -> RFC 8746 typed-array tag (docs/FORMAT.md §3).
_TYPED_TAGS = {
    "|u1": 64,
    "<u2": 69,
    "<u4": 70,
    "<u8": 71,
    "|i1": 72,
    "<i2": 77,
    "<i4": 78,
    "<i8": 79,
    "<f2": 84,
    "<f4": 85,
    "<f8": 86,
}


def _little_endian(dt: np.dtype) -> np.dtype:
    """dt with every byte order little-endian; structured dtypes packed.

    A structured dtype becomes the packed dtype of its fields in their
    order (names kept, titles, offsets and padding dropped), so padding bytes
    -- whose content is arbitrary -- never reach the canonical data.
    """
    if dt.fields is not None:
        return np.dtype([(name, _little_endian(dt.fields[name][0])) for name in dt.names])
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return np.dtype((_little_endian(base), shape))
    if dt.char in "gG":
        raise TypeError(
            f"numpy {dt} (long double) has platform-dependent size and padding bytes, "
            "so no canonical form: convert to float64/complex128 first"
        )
    return dt.newbyteorder("<")


def _dtype_text(le: np.dtype) -> str:
    if le.fields is not None:
        return str(le.descr)
    return le.str


def canonical_array(a: np.ndarray) -> tuple[int | None, str, tuple[int, ...], Any]:
    """(typed-array tag or None, dtype text, shape, payload) of an array.

    payload is a flat uint8 array of the C-order little-endian content, or
    for object arrays the list of elements in C order (tag 40).
    """
    dt = a.dtype
    if dt.hasobject:
        if dt.fields is not None or dt.kind != "O":
            raise TypeError(
                f"numpy arrays of dtype {dt} (object fields inside a structured dtype) "
                "have no canonical form"
            )
        return (40, "|O", a.shape, a.ravel(order="C").tolist())
    le = _little_endian(dt)
    text = _dtype_text(le)
    c = a.astype(le, order="C", copy=False)
    return (_TYPED_TAGS.get(text), text, a.shape, c.reshape(-1).view(np.uint8))


def canonical_scalar(s: np.generic) -> tuple[str, Any]:
    """(dtype text, flat uint8 array of the little-endian bytes) of a numpy scalar."""
    _tag, text, _shape, data = canonical_array(np.asarray(s))
    if isinstance(data, list):
        raise TypeError(f"numpy scalar of dtype {text} has no canonical form")
    return (text, data)
