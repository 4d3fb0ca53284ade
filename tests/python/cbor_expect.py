"""A few lines of CBOR, independent of memokey, to spell expected bytes."""

from __future__ import annotations

MK = 0x6D6B00
TUPLE, FROZENSET, ORDERED_MAP, OBJECT, GLOBAL, COMPLEX = (MK + i for i in range(1, 7))
DATETIME, TIME, TIMEDELTA, DECIMAL_SPECIAL, RANGE, SLICE, ENUM = (MK + i for i in range(7, 14))
TYPED_NDARRAY, NUMPY_SCALAR = MK + 14, MK + 15


def head(major: int, n: int) -> bytes:
    m = major << 5
    if n < 24:
        return bytes([m | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([m | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def uint(n: int) -> bytes:
    return head(0, n) if n >= 0 else head(1, -1 - n)


def text(s: str) -> bytes:
    b = s.encode()
    return head(3, len(b)) + b


def byte_string(b: bytes) -> bytes:
    return head(2, len(b)) + b


def array(*items: bytes) -> bytes:
    return head(4, len(items)) + b"".join(items)


def tag(n: int, content: bytes) -> bytes:
    return head(6, n) + content


def obj(class_id: str, *rest: bytes) -> bytes:
    """tag 0x6D6B04 [class id, state(, attributes)]"""
    return tag(OBJECT, array(text(class_id), *rest))


def record(class_id: str, *fields: tuple[str, bytes]) -> bytes:
    flat = [x for name, value in fields for x in (text(name), value)]
    return obj(class_id, tag(ORDERED_MAP, array(*flat)))


def glob(name: str) -> bytes:
    return tag(GLOBAL, text(name))
