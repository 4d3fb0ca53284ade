"""Provenance of tests/vectors/canonical-v1-python.json — run once, then frozen.

Python-only golden vectors (types C++ has no native form for), with the same
schema and the same method as tests/vectors/make_canonical_v1.py: the bytes
come from cbor2 (canonical mode) and CBORTag with hand-sorted content, numpy
data from numpy's own tobytes(), the keys from the `xxhash` package over the
frame of docs/FORMAT.md §5 -- never from memokey itself.

Never regenerate the file to make a test pass: a changed vector is a changed
format. Run with --check to verify the file still matches this script.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import cbor2
import numpy as np
import xxhash
from cbor2 import CBORTag

MK = 0x6D6B00
TUPLE, FROZENSET, ORDERED_MAP, OBJECT, GLOBAL, COMPLEX = (MK + i for i in range(1, 7))
DATETIME, TIME, TIMEDELTA, DECIMAL_SPECIAL, RANGE, SLICE, ENUM = (MK + i for i in range(7, 14))
TYPED_NDARRAY, NUMPY_SCALAR = MK + 14, MK + 15
COLUMN, FRAME = MK + 16, MK + 17

OUT = Path(__file__).resolve().parents[1] / "vectors" / "canonical-v1-python.json"


def enc(value) -> bytes:
    return cbor2.dumps(value, canonical=True)


def frame(value_bytes: bytes, namespace: str | None) -> bytes:
    return bytes.fromhex("84") + enc("memokey") + enc(1) + enc(namespace) + value_bytes


def det_map(entries: list) -> bytes:
    """A map in RFC 8949 §4.2.1 order: bytewise by encoded key.

    (cbor2's canonical mode sorts length-first, RFC 7049 §3.9; the two orders
    agree only when all keys share a major type.)
    """
    items = sorted((enc(k), enc(v)) for k, v in entries)
    head = enc([None] * len(items))[: -len(items) or None]  # the array head, reused as a map head
    return bytes([head[0] + 0x20]) + head[1:] + b"".join(k + v for k, v in items)


def sorted_set(tag: int, elements: list) -> CBORTag:
    encoded = sorted({enc(e): e for e in elements}.items())
    return CBORTag(tag, [e for _, e in encoded])


V: list[dict] = []


def add(name: str, python: str, cbor_value=None, namespace: str | None = None, *, raw: bytes | None = None):
    data = raw if raw is not None else enc(cbor_value)
    V.append(
        {
            "name": name,
            "python": python,
            "hex": data.hex(),
            "namespace": namespace,
            "key": xxhash.xxh3_128(frame(data, namespace)).hexdigest(),
        }
    )


def le(fmt: str, *values) -> bytes:
    return struct.pack("<" + fmt * len(values), *values)


# --- numbers -----------------------------------------------------------------------
add("bignum 2**1000", "2**1000", 2**1000)
add("bignum -(2**100)", "-(2**100)", -(2**100))
add("complex nan, inf", "complex(math.nan, -math.inf)", raw=bytes.fromhex("da006d6b0682f97e00f9fc00"))
add("complex -0.0 imag", "complex(1.5, -0.0)", raw=bytes.fromhex("da006d6b0682f93e00f98000"))
add("decimal 0E+5", "decimal.Decimal('0E+5')", CBORTag(4, [5, 0]))
add("decimal -0.00", "decimal.Decimal('-0.00')", CBORTag(DECIMAL_SPECIAL, "-0.00"))
add("decimal sNaN", "decimal.Decimal('sNaN')", CBORTag(DECIMAL_SPECIAL, "sNaN"))
add("decimal -NaN12", "decimal.Decimal('-NaN12')", CBORTag(DECIMAL_SPECIAL, "-NaN12"))
add("decimal Infinity", "decimal.Decimal('Infinity')", CBORTag(DECIMAL_SPECIAL, "Infinity"))
add("decimal 30 digits", "decimal.Decimal('1' + '0' * 30)", CBORTag(4, [0, 10**30]))
add("decimal 1.5E-7", "decimal.Decimal('-1.5E-7')", CBORTag(4, [-8, -15]))
add("fraction -3/2", "fractions.Fraction(-6, 4)", CBORTag(30, [-3, 2]))
add("fraction big", "fractions.Fraction(2**70, 3)", CBORTag(30, [2**70, 3]))
# --- containers ---------------------------------------------------------------------
add(
    "map keys of many types",
    "{None: 1, True: 2, 1.5: 3, (1,): 4, frozenset({1}): 5, b'': 6, -1: 7}",
    raw=det_map([
        (None, 1),
        (True, 2),
        (1.5, 3),
        (CBORTag(TUPLE, [1]), 4),
        (CBORTag(FROZENSET, [1]), 5),
        (b"", 6),
        (-1, 7),
    ]),
)
add("set mixed", "{(2, 'x'), 'a', 10, b'b', None}",
    sorted_set(258, [CBORTag(TUPLE, [2, "x"]), "a", 10, b"b", None]))
add("frozenset of tuples", "frozenset({(1, 2), (0,)})", sorted_set(FROZENSET, [CBORTag(TUPLE, [1, 2]), CBORTag(TUPLE, [0])]))
add("set in list in tuple", "([{'b', 'a'}],)", CBORTag(TUPLE, [[sorted_set(258, ["b", "a"])]]))
add("ordered map empty", "collections.OrderedDict()", CBORTag(ORDERED_MAP, []))
add("ordered map nested", "collections.OrderedDict([(2, {'z': 1, 'y': 2}), (1, [])])",
    CBORTag(ORDERED_MAP, [2, {"z": 1, "y": 2}, 1, []]))
add("defaultdict list", "collections.defaultdict(list, {'a': [1]})",
    CBORTag(OBJECT, ["collections:defaultdict", [CBORTag(GLOBAL, "builtins:list"), {"a": [1]}]]))
add("counter empty", "collections.Counter()", CBORTag(OBJECT, ["collections:Counter", {}]))
add("text non-BMP keys", "{'\U0001f600': 1, 'z': 2}", {"\U0001f600": 1, "z": 2})
# --- datetime -----------------------------------------------------------------------
add("date min", "datetime.date.min", CBORTag(1004, "0001-01-01"))
add("date max", "datetime.date.max", CBORTag(1004, "9999-12-31"))
add(
    "datetime microsecond offset",
    "datetime.datetime(2000, 2, 29, 23, 59, 59, 999999, "
    "tzinfo=datetime.timezone(datetime.timedelta(hours=-23, minutes=-59, microseconds=-1)))",
    CBORTag(DATETIME, [2000, 2, 29, 23, 59, 59, 999999, 0, -(23 * 3600 + 59 * 60) * 10**6 - 1]),
)
add(
    "time aware fold",
    "datetime.time(12, 30, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)), fold=1)",
    CBORTag(TIME, [12, 30, 0, 5, 1, 19_800_000_000]),
)
add("timedelta max", "datetime.timedelta.max", CBORTag(TIMEDELTA, [999999999, 86399, 999999]))
add("timedelta min", "datetime.timedelta.min", CBORTag(TIMEDELTA, [-999999999, 0, 0]))
# --- ranges, slices, globals, paths, enums ----------------------------------------
add("range empty", "range(5, 5)", CBORTag(RANGE, [5, 5, 1]))
add("range negative step", "range(10, -10, -3)", CBORTag(RANGE, [10, -10, -3]))
add("slice none", "slice(None)", CBORTag(SLICE, [None, None, None]))
add("NotImplemented", "NotImplemented", CBORTag(GLOBAL, "builtins:NotImplemented"))
add("global math.sqrt", "math.sqrt", CBORTag(GLOBAL, "math:sqrt"))
add("global class", "collections.OrderedDict", CBORTag(GLOBAL, "collections:OrderedDict"))
add("global builtin class", "bytes", CBORTag(GLOBAL, "builtins:bytes"))
add("PurePosixPath", "pathlib.PurePosixPath('/a/b')", CBORTag(OBJECT, ["pathlib:PurePosixPath", "/a/b"]))
add("PureWindowsPath", "pathlib.PureWindowsPath('c:/x/y')", CBORTag(OBJECT, ["pathlib:PureWindowsPath", "c:\\x\\y"]))
add("IntEnum member", "http.HTTPStatus.OK", CBORTag(ENUM, ["http:HTTPStatus", "OK"]))
add("Flag member", "re.RegexFlag.IGNORECASE", CBORTag(ENUM, ["re:RegexFlag", "IGNORECASE"]))
add("Flag combination", "re.RegexFlag.IGNORECASE | re.RegexFlag.MULTILINE", CBORTag(ENUM, ["re:RegexFlag", 10]))
add(
    "namedtuple",
    "urllib.parse.urlsplit('http://h/p?q')",
    CBORTag(OBJECT, ["urllib.parse:SplitResult",
                     CBORTag(ORDERED_MAP, ["scheme", "http", "netloc", "h", "path", "/p", "query", "q",
                                           "fragment", ""])]),
)
add("Tagged unknown tag", "memokey.Tagged(32, 'http://x')", CBORTag(32, "http://x"))
add("namespace unicode", "[1]", [1], "名前")
# --- numpy ----------------------------------------------------------------------------
add("numpy uint8", "np.array([1, 255], dtype=np.uint8)", CBORTag(40, [[2], CBORTag(64, b"\x01\xff")]))
add("numpy int8", "np.array([-1, 2], dtype=np.int8)", CBORTag(40, [[2], CBORTag(72, b"\xff\x02")]))
add("numpy big-endian int16", "np.arange(3, dtype='>i2')", CBORTag(40, [[3], CBORTag(77, le("h", 0, 1, 2))]))
add("numpy strided uint16", "np.arange(10, dtype='<u2')[::3]", CBORTag(40, [[4], CBORTag(69, le("H", 0, 3, 6, 9))]))
add("numpy uint32", "np.array([7], dtype=np.uint32)", CBORTag(40, [[1], CBORTag(70, le("I", 7))]))
add("numpy uint64", "np.array([2**64 - 1], dtype=np.uint64)", CBORTag(40, [[1], CBORTag(71, le("Q", 2**64 - 1))]))
add("numpy Fortran int64", "np.asfortranarray(np.arange(6, dtype='<i8').reshape(2, 3))",
    CBORTag(40, [[2, 3], CBORTag(79, le("q", 0, 1, 2, 3, 4, 5))]))
add("numpy transposed", "np.arange(6, dtype='<i4').reshape(2, 3).T",
    CBORTag(40, [[3, 2], CBORTag(78, le("i", 0, 3, 1, 4, 2, 5))]))
add("numpy float16", "np.array([1.5], dtype=np.float16)", CBORTag(40, [[1], CBORTag(84, bytes.fromhex("003e"))]))
add("numpy float32 big-endian", "np.array([1.5, -2], dtype='>f4')", CBORTag(40, [[2], CBORTag(85, le("f", 1.5, -2.0))]))
add("numpy 0-d", "np.array(2.5)", CBORTag(40, [[], CBORTag(86, le("d", 2.5))]))
add("numpy empty", "np.zeros((0, 3))", CBORTag(40, [[0, 3], CBORTag(86, b"")]))
add("numpy bool", "np.array([True, False])", CBORTag(TYPED_NDARRAY, ["|b1", [2], b"\x01\x00"]))
add("numpy complex128", "np.array([1 + 2j])", CBORTag(TYPED_NDARRAY, ["<c16", [1], le("d", 1.0, 2.0)]))
add("numpy datetime64", "np.array(['2020-01-02'], dtype='datetime64[D]')",
    CBORTag(TYPED_NDARRAY, ["<M8[D]", [1], le("q", 18263)]))
add("numpy unicode", "np.array(['ab', 'c'])",
    CBORTag(TYPED_NDARRAY, ["<U2", [2], "abc\0".encode("utf-32-le")]))
add("numpy bytes", "np.array([b'ab', b'c'])", CBORTag(TYPED_NDARRAY, ["|S2", [2], b"abc\0"]))
add(
    "numpy structured big-endian aligned",
    "np.array([(1, 2.0)], dtype=np.dtype([('a', '>i2'), ('b', '>f8')], align=True))",
    CBORTag(TYPED_NDARRAY, ["[('a', '<i2'), ('b', '<f8')]", [1], le("h", 1) + le("d", 2.0)]),
)
add("numpy object", "np.array([1, 'a', None], dtype=object)", CBORTag(40, [[3], [1, "a", None]]))
add("numpy object 2-d", "np.array([[(1,), []], [{}, 2.5]], dtype=object)",
    CBORTag(40, [[2, 2], [CBORTag(TUPLE, [1]), [], {}, 2.5]]))
add("numpy scalar float64", "np.float64(1.5)", CBORTag(NUMPY_SCALAR, ["<f8", le("d", 1.5)]))
add("numpy scalar int8", "np.int8(-1)", CBORTag(NUMPY_SCALAR, ["|i1", b"\xff"]))
add("numpy scalar bool", "np.bool_(True)", CBORTag(NUMPY_SCALAR, ["|b1", b"\x01"]))
add("numpy scalar str", "np.str_('ab')", CBORTag(NUMPY_SCALAR, ["<U2", "ab".encode("utf-32-le")]))
add("numpy scalar datetime64", "np.datetime64('1970-01-02', 's')", CBORTag(NUMPY_SCALAR, ["<M8[s]", le("q", 86400)]))
# --- data frames (FORMAT.md §4.3): 0x6D6B11 [class id, index, labels, columns],
# each column 0x6D6B10 [type, length, validity, values] -----------------------------


def column(dtype: str, n: int, validity, values) -> CBORTag:
    return CBORTag(COLUMN, [dtype, n, validity, values])


def pd_index(col: CBORTag, names: list = [None]) -> CBORTag:  # noqa: B006 - never mutated
    return CBORTag(FRAME, ["pandas:Index", None, names, [col]])


NAN64 = bytes.fromhex("000000000000f87f")  # the one NaN of float columns, little-endian
add("pandas Series int64 named", "pd.Series([1, 2], name='n')",
    CBORTag(FRAME, ["pandas:Series", pd_index(column("int64", 2, None, le("q", 0, 1))), ["n"],
                    [column("int64", 2, None, le("q", 1, 2))]]))
add("pandas DataFrame float NaN, str missing",
    "pd.DataFrame({'a': [1.5, -math.nan], 's': ['x', None]})",
    CBORTag(FRAME, ["pandas:DataFrame", pd_index(column("int64", 2, None, le("q", 0, 1))),
                    pd_index(column("str", 2, None, [le("q", 0, 1, 2), b"as"])),
                    [column("float64", 2, None, le("d", 1.5) + NAN64),
                     column("str", 2, b"\x01", [le("q", 0, 1, 1), b"x"])]]))
add("pandas RangeIndex step 3", "pd.RangeIndex(2, 8, 3)", pd_index(column("int64", 2, None, le("q", 2, 5))))
add("pandas Series Int8 masked", "pd.Series([1, None], dtype='Int8')",
    CBORTag(FRAME, ["pandas:Series", pd_index(column("int64", 2, None, le("q", 0, 1))), [None],
                    [column("Int8", 2, b"\x01", b"\x01\x00")]]))
add("pandas categorical (values one by one)", "pd.Series(pd.Categorical(['b', 'a']), index=[7, 7])",
    CBORTag(FRAME, ["pandas:Series", pd_index(column("int64", 2, None, le("q", 7, 7))), [None],
                    [column("category", 2, None, ["b", "a"])]]))
add("polars DataFrame null, long string", "pl.DataFrame({'a': [1, None], 's': ['x', 'a long string value']})",
    CBORTag(FRAME, ["polars:DataFrame", None, ["a", "s"],
                    [column("Int64", 2, b"\x01", le("q", 1, 0)),
                     column("String", 2, None, [le("q", 0, 1, 20), b"xa long string value"])]]))
add("pyarrow ChunkedArray bool, two chunks", "pa.chunked_array([[True, None], [False]])",
    CBORTag(FRAME, ["pyarrow:ChunkedArray", None, [], [column("bool", 3, b"\x05", b"\x01\x00\x00")]]))
add("pyarrow Table date32", "pa.table({'d': pa.array([1], pa.date32())})",
    CBORTag(FRAME, ["pyarrow:Table", None, ["d"], [column("date32[day]", 1, None, le("i", 1))]]))


def main() -> int:
    doc = {
        "format": "memokey canonical form v1",
        "frame": "XXH3-128 over the canonical encoding of ['memokey', 1, namespace, value]",
        "note": "Python-only vectors; provenance: tests/python/make_canonical_v1_python.py",
        "vectors": V,
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.name} differs from its provenance script", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
