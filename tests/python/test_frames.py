"""Data frames (pandas, polars, pyarrow): keys by content (docs/FORMAT.md §4.3).

Equal frames built differently (chunking, construction path, copies, views,
memory layout, string storage) share a key; a changed cell, label, index,
name or dtype changes it; values under missing slots and bits past the end
of a validity bitmap do not matter.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memokey

np = pytest.importorskip("numpy")

key = memokey.key


def _optional(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


pd, pl, pa = _optional("pandas"), _optional("polars"), _optional("pyarrow")
needs_pandas = pytest.mark.skipif(pd is None or int(pd.__version__.split(".")[0]) < 3, reason="needs pandas >= 3")
needs_polars = pytest.mark.skipif(pl is None, reason="needs polars")
needs_pyarrow = pytest.mark.skipif(pa is None, reason="needs pyarrow")

# Columns of random content: ints (maybe missing), floats (NaN, inf, -0.0,
# missing), text (non-ASCII, long and short, missing).
ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=40)
floats = st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40)
texts = st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=1, max_size=40)


def _same_length(a: list, b: list, c: list) -> tuple[list, list, list]:
    n = min(len(a), len(b), len(c))
    return a[:n], b[:n], c[:n]


# --- pandas ------------------------------------------------------------------------


@needs_pandas
def test_pandas_frames_built_differently_share_a_key():
    data = {"i": [1, 2, 3, 4], "f": [0.5, math.nan, -0.0, 2.0], "s": ["a", None, "ccc", "\u00e9t\u00e9"]}
    df = pd.DataFrame(data)
    same = [
        pd.DataFrame.from_records([dict(zip(data, row)) for row in zip(*data.values())]),
        pd.concat([df.iloc[:1], df.iloc[1:3], df.iloc[3:]]),  # pieces
        df.copy(),
        df[["i", "f", "s"]],  # a selection
        pd.DataFrame({"i": np.asfortranarray(np.array([1, 2, 3, 4])), "f": data["f"], "s": data["s"]}),
        pd.DataFrame({"i": np.array([1, 2, 3, 4], dtype=">i8").astype("<i8"), "f": data["f"], "s": data["s"]}),
        pd.DataFrame(data, index=pd.Index([0, 1, 2, 3])),  # an Index instead of a RangeIndex
        pd.DataFrame(data, index=pd.RangeIndex(10)[:4]),
        # the same str dtype, stored in Python objects instead of Arrow buffers
        df.astype({"s": pd.StringDtype("python", na_value=np.nan)}),
    ]
    if pa is not None:
        same.append(pa.Table.from_pandas(df).to_pandas())
    for other in same:
        assert [str(t) for t in other.dtypes] == [str(t) for t in df.dtypes]
        assert key(other) == key(df)


@needs_pandas
def test_pandas_identity_parts():
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    k = key(df)
    different = [
        df[["b", "a"]],  # column order
        df.rename(columns={"a": "A"}),  # labels
        df.set_axis([5, 6]),  # index values
        df.rename_axis("idx"),  # index name
        df.astype({"a": "int32"}),  # dtype
        df.astype({"a": "Int64"}),  # a masked dtype with the same values
        df.astype({"b": object}),  # object column of the same strings
        df.iloc[:1],
    ]
    for other in different:
        assert key(other) != k
    s = df["a"]
    assert key(s) != key(s.rename("z")) and key(s) != key(df)
    assert key(df.index) != key(pd.Index([0, 1], name="n"))


@needs_pandas
@settings(max_examples=25, deadline=None)
@given(ints, floats, texts, st.data())
def test_pandas_property(i, f, s, data):
    i, f, s = _same_length(i, f, s)
    df = pd.DataFrame({"i": pd.array(i, dtype="Int64"), "f": np.array(f, dtype="f8"), "s": pd.array(s, dtype="str")})
    cut = data.draw(st.integers(0, len(i)))
    pieces = pd.concat([df.iloc[:cut], df.iloc[cut:]])
    assert key(pieces) == key(df)
    # one changed cell changes the key
    row = data.draw(st.integers(0, len(i) - 1))
    changed = df.copy()
    changed.iloc[row, 2] = "changed" if df.iloc[row, 2] != "changed" else "other"
    assert key(changed) != key(df)
    changed = df.copy()
    old = df.iloc[row, 0]
    changed.iloc[row, 0] = 0 if pd.isna(old) or old != 0 else 1
    assert key(changed) != key(df)


@needs_pandas
def test_pandas_values_under_missing_slots_do_not_matter():
    a = pd.Series([1, 2, 3], dtype="Int64")
    b = pd.Series([1, 99, 3], dtype="Int64")
    a[1] = pd.NA
    b[1] = pd.NA
    assert a.array._data[1] != b.array._data[1]  # different bytes under the missing value
    assert key(a) == key(b)
    assert key(a) != key(pd.Series([1, 0, 3], dtype="Int64"))


@needs_pandas
def test_pandas_nan_payloads_are_one_nan():
    bits = np.array([0x7FF8000000000000, 0xFFF8000000000001], dtype="<u8").view("<f8")
    assert key(pd.Series(bits[:1])) == key(pd.Series(bits[1:]))
    assert key(pd.Series([0.0])) != key(pd.Series([-0.0]))  # -0.0 is kept, as for every float


PANDAS_DTYPES = [
    ("int8", [1, -2]), ("int16", [1, -2]), ("int32", [1, -2]), ("int64", [1, -2]),
    ("uint8", [1, 2]), ("uint16", [1, 2]), ("uint32", [1, 2]), ("uint64", [1, 2**64 - 1]),
    ("float32", [0.5, math.nan]), ("float64", [0.5, math.inf]), ("bool", [True, False]),
    ("complex128", [1 + 2j, 3j]),
    ("datetime64[ns]", ["2020-01-01", None]), ("datetime64[s, UTC]", ["2020-01-01", "2021-06-01"]),
    ("timedelta64[ms]", [1, None]),
    ("Int64", [1, None]), ("UInt8", [1, None]), ("Float64", [0.5, None]), ("boolean", [True, None]),
    ("str", ["a", None]), ("string", ["a", None]), ("object", ["a", 1]),
    ("category", ["x", "y"]),
]


@needs_pandas
@pytest.mark.parametrize("dtype,values", PANDAS_DTYPES, ids=[d for d, _ in PANDAS_DTYPES])
def test_pandas_every_dtype(dtype, values):
    s = pd.Series(values, dtype=dtype)
    assert key(s) == key(s.copy()) == key(pd.concat([s.iloc[:1], s.iloc[1:]]))
    assert key(s) != key(s.iloc[::-1].reset_index(drop=True))  # the values in another order
    assert key(pd.DataFrame({"c": s})) != key(pd.DataFrame({"c": s.iloc[::-1].reset_index(drop=True)}))


@needs_pandas
def test_pandas_multiindex_and_fallback_columns():
    mi = pd.MultiIndex.from_arrays([[1, 1, 2], ["a", "b", "a"]], names=["n", "s"])
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=mi)
    assert key(df) == key(df.copy())
    assert key(df) != key(df.set_axis(mi.set_names(["n", "t"])))
    assert key(df) != key(df.reset_index())
    # a period column has no buffer encoding: its values one by one
    p = pd.Series(pd.period_range("2020-01", periods=2, freq="M"))
    assert key(p) == key(p.copy()) != key(pd.Series(pd.period_range("2020-02", periods=2, freq="M")))


@needs_pandas
def test_pandas_error_path_names_the_column():
    class Local:
        pass

    df = pd.DataFrame({"ok": [1, 2], "bad": [1, Local()]})
    with pytest.raises(memokey.CanonicalizationError) as info:
        key(df)
    assert info.value.path == "['bad'][1]"
    assert "defined inside a function" in str(info.value)


@needs_pandas
def test_memoized_frame_arguments_and_results(tmp_path):
    calls = []

    def double(df):
        calls.append(1)
        return df * 2

    store = f"disk://{tmp_path}/cache"
    df = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    # an explicit version: the default one depends on the closure (`calls`), which changes
    first = memokey.memoize(store=store, name="double", version=1)(double)
    assert first(df).equals(df * 2)
    assert first(pd.concat([df.iloc[:1], df.iloc[1:]])).equals(df * 2)  # a hit: same key
    assert len(calls) == 1
    second = memokey.memoize(store=store, name="double", version=1, memory=0)(double)  # no memory tier
    back = second(df.copy())
    assert len(calls) == 1  # answered by the disk tier
    assert back.equals(df * 2) and back.dtypes.tolist() == (df * 2).dtypes.tolist()


@needs_pandas
@needs_pyarrow
def test_one_million_rows():
    """The large-buffer path (uncopied, without the GIL): equal for pieces, a
    changed last cell changes the key. The strings are built from buffers:
    five letters each, no Python object per row."""
    n = 1_000_000
    i = np.arange(n, dtype=np.int64)
    letters = np.stack([(i // 26**k % 26 + ord("a")).astype(np.uint8) for k in range(5)], axis=1)
    offsets = np.arange(0, 5 * n + 1, 5, dtype="<i8")
    strings = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(letters)])
    df = pd.DataFrame({"i": i, "f": i / 7, "s": pd.Series(strings, dtype="str")})
    before = key(df)
    assert key(pd.concat([df.iloc[: n // 3], df.iloc[n // 3 :]])) == before
    letters[-1, 0] = ord("A")  # the last string, in place in the buffer the frame uses
    assert df["s"].iloc[-1].startswith("A")
    assert key(df) != before


# --- polars ------------------------------------------------------------------------


@needs_polars
def test_polars_chunks_and_construction():
    df = pl.DataFrame({"a": [1, None, 3], "s": ["short", None, "a string longer than twelve bytes"]})
    chunked = pl.concat([df[:1], df[1:]], rechunk=False)
    assert chunked.n_chunks() > 1
    assert key(chunked) == key(df) == key(chunked.rechunk())
    assert key(pl.from_dicts(df.to_dicts())) == key(df)
    if pa is not None:
        assert key(pl.from_arrow(df.to_arrow())) == key(df)  # large_string in, views inside
    assert key(df["s"]) == key(chunked["s"])


@needs_polars
@settings(max_examples=25, deadline=None)
@given(ints, floats, texts, st.data())
def test_polars_property(i, f, s, data):
    i, f, s = _same_length(i, f, s)
    df = pl.DataFrame({"i": i, "f": f, "s": s}, schema={"i": pl.Int64, "f": pl.Float64, "s": pl.String})
    cut = data.draw(st.integers(0, len(i)))
    assert key(pl.concat([df[:cut], df[cut:]], rechunk=False)) == key(df)
    row = data.draw(st.integers(0, len(i) - 1))
    s2 = list(s)
    s2[row] = "changed" if s[row] != "changed" else None
    assert key(df.with_columns(pl.Series("s", s2, dtype=pl.String))) != key(df)


@needs_polars
def test_polars_identity_and_nulls():
    df = pl.DataFrame({"a": [1.0, float("nan")]})
    assert key(df) != key(pl.DataFrame({"a": [1.0, None]}))  # NaN is a value, null is missing
    assert key(df) != key(df.rename({"a": "b"}))
    assert key(df) != key(df.cast(pl.Float32))
    assert key(df) != key(df["a"])  # a Series is not a DataFrame
    nested = pl.DataFrame({"l": [[1, 2], [3]]})  # no buffer encoding: values one by one
    assert key(nested) == key(pl.DataFrame({"l": [[1, 2], [3]]})) != key(pl.DataFrame({"l": [[1, 2], [4]]}))


# --- pyarrow -----------------------------------------------------------------------


@needs_pyarrow
def test_pyarrow_chunks_slices_and_types():
    t = pa.table({"i": [1, 2, None, 4], "s": ["a", "bb", None, "dddd"]})
    assert key(pa.concat_tables([t.slice(0, 1), t.slice(1, 2), t.slice(3)])) == key(t)
    big = pa.table({"i": [0, 1, 2, None, 4, 9], "s": ["z", "a", "bb", None, "dddd", "q"]})
    assert key(big.slice(1, 4)) == key(t)  # offsets not at 0
    assert key(t) != key(t.cast(pa.schema([("i", pa.int32()), ("s", pa.string())])))
    assert key(pa.chunked_array([[1, 2], [3]])) == key(pa.chunked_array([[1], [2, 3]]))
    assert key(pa.array([1, 2, 3])) != key(pa.chunked_array([[1, 2, 3]]))  # Array vs ChunkedArray
    assert key(pa.array(["x"], pa.string())) != key(pa.array(["x"], pa.large_string()))  # the type is kept
    assert key(pa.array([True, None, False])) == key(pa.array([True, None, False, True]).slice(0, 3))
    nested = pa.array([{"x": 1}, None])  # a struct: values one by one
    assert key(nested) == key(pa.array([{"x": 1}, None])) != key(pa.array([{"x": 2}, None]))


@needs_pyarrow
def test_pyarrow_garbage_under_nulls_and_past_the_end():
    # int64 [7, null, 9]: the bitmap has bits set past the end, the null slot holds 12345
    validity = pa.py_buffer(bytes([0b11111101]))
    values = pa.py_buffer(np.array([7, 12345, 9, 55], dtype="<i8").tobytes())
    messy = pa.Array.from_buffers(pa.int64(), 3, [validity, values], null_count=1)
    assert key(messy) == key(pa.array([7, None, 9], pa.int64()))
    # strings: a null slot whose offsets cover bytes
    offsets = pa.py_buffer(np.array([0, 1, 4, 5], dtype="<i4").tobytes())
    data = pa.py_buffer(b"aXYZb")
    messy = pa.Array.from_buffers(pa.string(), 3, [pa.py_buffer(bytes([0b101])), offsets, data], null_count=1)
    assert key(messy) == key(pa.array(["a", None, "b"], pa.string()))


@needs_pyarrow
@needs_pandas
def test_libraries_do_not_share_keys():
    """The class is part of the identity: a pandas, a polars and a pyarrow
    frame of the same values are three different values."""
    keys = {key(pd.DataFrame({"a": [1]})), key(pa.table({"a": [1]}))}
    if pl is not None:
        keys.add(key(pl.DataFrame({"a": [1]})))
    assert len(keys) == (3 if pl is not None else 2)
