"""Interop with an independent CBOR implementation (cbor2) and an
independent XXH3-128 (the xxhash package)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memokey
import memokey_testtypes as tt
from strategies import json_like, values

cbor2 = pytest.importorskip("cbor2")
xxhash = pytest.importorskip("xxhash")


def same(a, b) -> bool:
    """Structural equality with NaN == NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=400, deadline=None)
@given(json_like)
def test_json_like_equals_cbor2_canonical(x):
    """For JSON-like data with str keys, memokey's bytes are cbor2's canonical bytes.

    (Only str keys: for keys of different major types cbor2's canonical
    mode sorts length-first, RFC 7049 §3.9, where RFC 8949 §4.2.1 -- and
    memokey -- sort bytewise. cbor2 6 writes -0.0 as f98000 and every NaN
    as f97e00 in canonical mode, as memokey does.)
    """
    assert memokey.dumps(x) == cbor2.dumps(x, canonical=True)


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_cbor2_decodes_json_like(x):
    assert same(cbor2.loads(memokey.dumps(x)), x)


@settings(max_examples=300, deadline=None)
@given(values)
def test_cbor2_decodes_everything(x):
    data = memokey.dumps(x)
    decoded = cbor2.loads(data)
    # cbor2's re-encoding of what it decoded is the same data: memokey reads
    # it back leniently (cbor2 orders mixed-type keys length-first) to the
    # very same canonical bytes.
    again = cbor2.dumps(decoded, canonical=True)
    assert memokey.dumps(memokey.loads(again, strict=False)) == data


OBJECTS = [
    tt.Point(1, 2),
    tt.Plain(a=[1, {2, 3}], b=None),
    tt.Color.RED,
    tt.Pair(1, 2),
    len,
    ...,
    complex(1, 2),
    range(3),
    slice(1, 2),
    bytearray(b"x"),
    __import__("datetime").datetime(2024, 1, 1),
    __import__("decimal").Decimal("-0"),
    __import__("collections").OrderedDict(a=1),
    memokey.Tagged(123456, {"a": 1}),
]


@pytest.mark.parametrize("x", OBJECTS, ids=[repr(o)[:30] for o in OBJECTS])
def test_cbor2_decodes_tags(x):
    decoded = cbor2.loads(memokey.dumps(x))
    # cbor2 gives its own types for the tags it knows, CBORTag for the others;
    # re-encoding the CBORTags gives the same bytes back.
    if isinstance(decoded, cbor2.CBORTag):
        assert decoded.tag >= 0x6D6B00 or decoded.tag == 123456
        assert cbor2.dumps(decoded, canonical=True) == memokey.dumps(x)


def test_numpy_decodes():
    np = pytest.importorskip("numpy")
    for a in [np.arange(3, dtype="<i4"), np.array([True]), np.array(["x"]), np.array([1, "a"], dtype=object)]:
        cbor2.loads(memokey.dumps(a))


@settings(max_examples=200, deadline=None)
@given(values, st.one_of(st.none(), st.text(max_size=10)))
def test_key_is_xxh3_128_of_the_frame(x, ns):
    """docs/FORMAT.md §5, computed with cbor2 and the xxhash package."""
    frame = b"\x84" + cbor2.dumps("memokey") + b"\x01" + cbor2.dumps(ns) + memokey.dumps(x)
    assert memokey.key(x, ns) == xxhash.xxh3_128(frame).digest()
    assert memokey.hexkey(x, namespace=ns) == xxhash.xxh3_128(frame).hexdigest()


def test_key_of_large_values_is_xxh3_128_of_the_frame():
    big = bytes(range(256)) * 40000  # 10 MB: streamed to the hasher, zero-copy
    for x in [big, [big, big[:100]], {"a": big}, (1, big)]:
        frame = b"\x84\x67memokey\x01\xf6" + memokey.dumps(x)
        assert memokey.key(x) == xxhash.xxh3_128(frame).digest()


def test_large_json_like_values_equal_cbor2():
    """Sizes that cross memokey's internal buffer boundaries (staging buffer,
    direct writes of large strings, 64 KiB flushes)."""
    import random

    rng = random.Random(5)
    values = [
        "x" * 100_000,
        ["é" * n for n in range(0, 3000, 7)],
        list(range(-5000, 5000)),
        [rng.random() for _ in range(5000)],
        {("k%05d" % i) * (1 + i % 7): {"v": i, "s": "y" * (i % 300)} for i in range(2000)},
        {"big": "z" * 70_000, "list": [{"a": [1.5] * 50}] * 300},
        [[[[str(i)] * 3] * 3] * 3 for i in range(200)],
    ]
    for x in values:
        assert memokey.dumps(x) == cbor2.dumps(x, canonical=True)
        frame = b"\x84\x67memokey\x01\xf6" + memokey.dumps(x)
        assert memokey.key(x) == xxhash.xxh3_128(frame).digest()
