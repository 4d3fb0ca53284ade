"""numpy arrays and scalars: layout- and byte-order-independent keys."""

from __future__ import annotations

import subprocess
import sys

import pytest

import memokey

np = pytest.importorskip("numpy")


def layouts(c: np.ndarray) -> list[np.ndarray]:
    """Arrays equal to c with other memory layouts and byte orders."""
    out = [c, np.asfortranarray(c)]
    if c.dtype.byteorder in "<=>":
        out.append(c.astype(c.dtype.newbyteorder(">")))
        out.append(np.asfortranarray(c.astype(c.dtype.newbyteorder(">"))))
    # a strided view: the values sit at every other position of a bigger array
    wide = np.zeros((c.shape[0] * 2,) + c.shape[1:], dtype=c.dtype)
    wide[::2] = c
    out.append(wide[::2])
    if c.ndim == 2:
        out.append(np.ascontiguousarray(c.T).T)  # F-ordered data via a transposed view
    return out


DTYPES = ["u1", "i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8", "?", "<c8", "<c16",
          "<M8[ms]", "<m8[s]", "<U3", "S3"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_and_byte_orders_agree(dtype):
    base = np.arange(12).reshape(3, 4)
    if dtype.startswith(("<U", "S")):
        c = base.astype(dtype)
    elif dtype == "?":
        c = base % 3 == 0
    else:
        c = base.astype(dtype)
    expected = memokey.dumps(c)
    for a in layouts(c):
        assert np.array_equal(a, c)
        assert memokey.dumps(a) == expected, (a.flags, a.dtype)


def test_typed_array_form():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert memokey.dumps(a).hex() == "d82882820202d856582" + "0" + a.tobytes().hex()
    assert memokey.dumps(np.asfortranarray(a)) == memokey.dumps(a)
    assert memokey.dumps(a.T) != memokey.dumps(a)  # different values


def test_shape_and_dtype_matter():
    a = np.arange(6, dtype="<i4")
    keys = {memokey.key(x) for x in [a, a.reshape(2, 3), a.reshape(3, 2), a.astype("<i8"), a.astype("<u4"),
                                      a.astype("<f8"), a.reshape(1, 6)]}
    assert len(keys) == 7
    assert memokey.key(np.zeros((0, 3))) != memokey.key(np.zeros((3, 0)))
    assert memokey.key(np.array(1.0)) != memokey.key(np.array([1.0]))


def test_object_arrays():
    a = np.array([[1, "a"], [None, (2, 3)]], dtype=object)
    assert memokey.dumps(a) == bytes.fromhex("d828828202028401") + memokey.dumps("a") + bytes.fromhex(
        "f6"
    ) + memokey.dumps((2, 3))
    assert memokey.dumps(np.asfortranarray(a)) == memokey.dumps(a)
    b = np.empty(2, dtype=object)
    b[0] = b  # a cycle through an object array
    b[1] = 1
    with pytest.raises(memokey.CanonicalizationError, match="cycle"):
        memokey.dumps(b)
    c = np.empty((2, 2), dtype=object)
    c[:] = 0
    c[1, 0] = lambda: 0
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.dumps({"arr": c})
    assert info.value.path == "['arr'][1, 0]"


def test_structured_dtypes():
    packed = np.array([(1, 2.0)], dtype=[("a", "<i2"), ("b", "<f8")])
    aligned = np.array([(1, 2.0)], dtype=np.dtype([("a", ">i2"), ("b", ">f8")], align=True))
    assert memokey.dumps(aligned) == memokey.dumps(packed)
    assert memokey.key(packed) != memokey.key(np.array([(1, 2.0)], dtype=[("x", "<i2"), ("b", "<f8")]))
    # padding content never leaks in
    raw = np.zeros(2, dtype=np.dtype([("a", "u1"), ("b", "<i4")], align=True))
    garbage = raw.copy()
    garbage.view(np.uint8)[1:4] = 0xAB  # the padding bytes after 'a'
    assert memokey.dumps(garbage) == memokey.dumps(raw)
    with pytest.raises(memokey.CanonicalizationError):
        memokey.dumps(np.zeros(1, dtype=[("o", object)]))


def test_long_double_refused():
    if np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("long double is double here")
    with pytest.raises(memokey.CanonicalizationError, match="long double"):
        memokey.dumps(np.zeros(2, dtype=np.longdouble))


def test_scalars():
    assert memokey.dumps(np.float64(1.5)).hex() == "da006d6b0f8263" + "3c6638" + "48000000000000f83f"
    assert memokey.key(np.float64(1.5)) != memokey.key(1.5)  # numpy scalars are not Python floats
    assert memokey.key(np.int64(3)) != memokey.key(3)
    assert memokey.key(np.int64(3)) != memokey.key(np.int32(3))
    assert memokey.key(np.bool_(True)) != memokey.key(True)
    assert memokey.key(np.str_("a")) != memokey.key("a")
    assert memokey.key(np.float64(1.5)) != memokey.key(np.array(1.5))
    big = np.array([1.5], dtype=">f8")[0]
    assert memokey.dumps(big) == memokey.dumps(np.float64(1.5))
    assert isinstance(memokey.loads(memokey.dumps(np.float64(1.5))), memokey.Tagged)


def test_ndarray_subclass():
    m = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    n = np.ma.masked_array([1, 2, 3], mask=[0, 0, 1])
    assert memokey.key(m) != memokey.key(n)
    assert memokey.key(m) != memokey.key(np.array([1, 2, 3]))


def test_large_array_zero_copy_and_round_trip_of_bytes():
    a = np.random.default_rng(1).standard_normal(3 * 1024 * 1024 // 8 + 5)  # ~3 MiB, GIL released
    assert memokey.key(a) == memokey.key(a.copy())
    assert memokey.key(a[::-1]) == memokey.key(a[::-1].copy())
    assert memokey.key(a) != memokey.key(a[::-1])


def test_numpy_is_not_imported_by_memokey():
    code = "import sys, memokey; memokey.key({'a': [1, 2.5]}); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
