"""Every Python type of docs/FORMAT.md §4 with its expected canonical bytes.

The expected hex is written out by hand from the spec (cbor_expect spells
heads and text so that class ids need no counting); test_vectors.py checks
the shared golden vectors on top of this.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import fractions
import math
import pathlib
import sys
import types
import uuid

import pytest

import memokey
import memokey_testtypes as tt
from cbor_expect import (
    COMPLEX,
    DATETIME,
    DECIMAL_SPECIAL,
    ENUM,
    FROZENSET,
    OBJECT,
    ORDERED_MAP,
    RANGE,
    SLICE,
    TIME,
    TIMEDELTA,
    TUPLE,
    array,
    byte_string,
    glob,
    obj,
    record,
    tag,
    text,
    uint,
)

H = bytes.fromhex
M = "memokey_testtypes:"

CASES = [
    # §4.1 shared with C++
    ("None", None, H("f6")),
    ("False", False, H("f4")),
    ("True", True, H("f5")),
    ("int 0", 0, H("00")),
    ("int 23", 23, H("17")),
    ("int 24", 24, H("1818")),
    ("int -1", -1, H("20")),
    ("int -25", -25, H("3818")),
    ("int 2**63", 2**63, H("1b8000000000000000")),
    ("int 2**64-1", 2**64 - 1, H("1bffffffffffffffff")),
    ("int -2**64", -(2**64), H("3bffffffffffffffff")),
    ("int 2**64", 2**64, H("c249010000000000000000")),
    ("int -2**64-1", -(2**64) - 1, H("c349010000000000000000")),
    ("int 2**200", 2**200, tag(2, byte_string(b"\x01" + bytes(25)))),
    ("float 0.0", 0.0, H("f90000")),
    ("float -0.0", -0.0, H("f98000")),
    ("float 1.0", 1.0, H("f93c00")),
    ("float 1.5", 1.5, H("f93e00")),
    ("float 65504", 65504.0, H("f97bff")),
    ("float 100000", 100000.0, H("fa47c35000")),
    ("float 1.1", 1.1, H("fb3ff199999999999a")),
    ("float 5.960464477539063e-08", 5.960464477539063e-08, H("f90001")),
    ("float nan", math.nan, H("f97e00")),
    ("float -nan", -math.nan, H("f97e00")),
    ("float inf", math.inf, H("f97c00")),
    ("float -inf", -math.inf, H("f9fc00")),
    ("str empty", "", H("60")),
    ("str a", "a", H("6161")),
    ("str ü", "ü", H("62c3bc")),
    ("str non-BMP", "\U0001d11e", H("64f09d849e")),
    ("bytes empty", b"", H("40")),
    ("bytes", b"\x01\x02", H("420102")),
    ("memoryview", memoryview(b"ab"), H("426162")),
    ("memoryview strided", memoryview(b"abcd")[::2], H("426163")),
    ("memoryview 2-d", memoryview(bytes(range(6))).cast("B", (2, 3)), H("46000102030405")),
    ("list empty", [], H("80")),
    ("list nested", [1, [2, 3], [4, 5]], H("8301820203820405")),
    ("tuple empty", (), H("da006d6b0180")),
    ("tuple (1, 2)", (1, 2), H("da006d6b01820102")),
    ("dict empty", {}, H("a0")),
    ("dict issue example", {"b": 1, "a": [1, 2.5]}, H("a261618201f94100616201")),
    ("dict bytewise not length-first", {"aa": 1, "b": 2}, H("a261620262616101")),
    ("dict mixed keys", {"a": 3, 1: 2, -1: 0, b"x": 4}, H("a401022000417804616103")),
    ("dict tuple key", {(1,): 2}, H("a1da006d6b01810102")),
    ("set", {3, 1, 2}, H("d9010283010203")),
    ("set empty", set(), H("d9010280")),
    ("set of text", {"b", "a", "aa"}, H("d901028361616162626161")),
    ("set two nans", {float("nan"), float("nan")}, H("d9010281f97e00")),
    ("frozenset", frozenset({2, 1}), H("da006d6b02820102")),
    # §4.2 Python types
    ("complex", complex(1, 2), H("da006d6b0682f93c00f94000")),
    ("bytearray", bytearray(b"ab"), H("da006d6b0482726275696c74696e733a627974656172726179426162")),
    ("OrderedDict", collections.OrderedDict([("b", 1), ("a", 2)]), H("da006d6b0384616201616102")),
    ("range", range(0, 10, 2), H("da006d6b0b83000a02")),
    ("range default step", range(3), H("da006d6b0b83000301")),
    ("slice", slice(1, None, 2), H("da006d6b0c8301f602")),
    ("slice of objects", slice("a", (1,), None), tag(SLICE, array(text("a"), H("da006d6b018101"), H("f6")))),
    ("Ellipsis", ..., glob("builtins:Ellipsis")),
    ("NotImplemented", NotImplemented, glob("builtins:NotImplemented")),
    ("builtin function", len, glob("builtins:len")),
    ("module function", math.sqrt, glob("math:sqrt")),
    ("class", int, glob("builtins:int")),
    ("user class", tt.Point, glob(M + "Point")),
    ("user function", tt.module_function, glob(M + "module_function")),
    ("date", datetime.date(2024, 1, 2), H("d903ec6a323032342d30312d3032")),
    ("date year 1", datetime.date(1, 1, 1), tag(1004, text("0001-01-01"))),
    ("datetime naive", datetime.datetime(2024, 1, 2, 3, 4, 5, 6), H("da006d6b07891907e801020304050600f6")),
    (
        "datetime utc",
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
        H("da006d6b07891907e80102030405060000"),
    ),
    (
        "datetime -05:00 fold",
        datetime.datetime(2024, 1, 2, fold=1, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
        tag(DATETIME, array(uint(2024), uint(1), uint(2), uint(0), uint(0), uint(0), uint(0), uint(1),
                            uint(-5 * 3600 * 10**6))),
    ),
    ("time naive", datetime.time(23, 59, 58, 999999), H("da006d6b088617183b183a1a000f423f00f6")),
    (
        "time aware",
        datetime.time(1, 2, tzinfo=datetime.timezone(datetime.timedelta(minutes=30))),
        tag(TIME, array(uint(1), uint(2), uint(0), uint(0), uint(0), uint(30 * 60 * 10**6))),
    ),
    ("timedelta", datetime.timedelta(days=-1, seconds=5, microseconds=7), H("da006d6b0983200507")),
    ("timedelta zero", datetime.timedelta(0), tag(TIMEDELTA, array(uint(0), uint(0), uint(0)))),
    ("Decimal 1.10", decimal.Decimal("1.10"), H("c48221186e")),
    ("Decimal 1.1", decimal.Decimal("1.1"), H("c482200b")),
    ("Decimal -12.5E+3", decimal.Decimal("-12.5E+3"), H("c48202387c")),
    ("Decimal 0E+5", decimal.Decimal("0E+5"), H("c4820500")),
    ("Decimal big", decimal.Decimal("1" + "0" * 30), tag(4, array(uint(0), tag(2, byte_string((10**30).to_bytes(13, "big")))))),
    ("Decimal -0", decimal.Decimal("-0"), H("da006d6b0a622d30")),
    ("Decimal -0.00", decimal.Decimal("-0.00"), tag(DECIMAL_SPECIAL, text("-0.00"))),
    ("Decimal NaN", decimal.Decimal("NaN"), H("da006d6b0a634e614e")),
    ("Decimal sNaN", decimal.Decimal("sNaN"), tag(DECIMAL_SPECIAL, text("sNaN"))),
    ("Decimal NaN payload", decimal.Decimal("-NaN12"), tag(DECIMAL_SPECIAL, text("-NaN12"))),
    ("Decimal -Infinity", decimal.Decimal("-Infinity"), H("da006d6b0a692d496e66696e697479")),
    ("Fraction", fractions.Fraction(1, 3), H("d81e820103")),
    ("Fraction negative", fractions.Fraction(-6, 4), H("d81e82220" + "2")),
    ("UUID", uuid.UUID("12345678-1234-5678-1234-567812345678"), H("d8255012345678123456781234567812345678")),
    ("Counter", collections.Counter("aab"), H("da006d6b048273636f6c6c656374696f6e733a436f756e746572a2616102616201")),
    (
        "defaultdict",
        collections.defaultdict(list, {"a": [1]}),
        obj("collections:defaultdict", array(glob("builtins:list"), H("a161618101"))),
    ),
    ("defaultdict no factory", collections.defaultdict(None), obj("collections:defaultdict", array(H("f6"), H("a0")))),
    ("dict subclass", tt.MyDict(a=1), obj(M + "MyDict", H("a1616101"))),
    ("dict subclass with attributes", None, None),  # filled in below
    ("list subclass", tt.MyList([1]), obj(M + "MyList", H("8101"))),
    ("tuple subclass", tt.MyTuple((1,)), obj(M + "MyTuple", H("da006d6b018101"))),
    ("str subclass", tt.MyStr("a"), obj(M + "MyStr", H("6161"))),
    ("int subclass", tt.MyInt(5), obj(M + "MyInt", H("05"))),
    ("int subclass big", tt.MyInt(-(2**70)), obj(M + "MyInt", tag(3, byte_string((2**70 - 1).to_bytes(9, "big"))))),
    ("float subclass", tt.MyFloat(1.5), obj(M + "MyFloat", H("f93e00"))),
    ("set subclass", tt.MySet({2, 1}), obj(M + "MySet", H("d90102820102"))),
    ("frozenset subclass", tt.MyFrozenSet({1}), obj(M + "MyFrozenSet", H("da006d6b028101"))),
    ("bytes subclass", tt.MyBytes(b"a"), obj(M + "MyBytes", H("4161"))),
    (
        "OrderedDict subclass",
        tt.MyOrderedDict([("b", 1), ("a", 2)]),
        obj(M + "MyOrderedDict", H("da006d6b0384616201616102")),
    ),
    ("namedtuple", tt.Pair(1, "x"), record(M + "Pair", ("left", H("01")), ("right", text("x")))),
    ("typing.NamedTuple", tt.Typed(2), record(M + "Typed", ("a", H("02")), ("b", text("b")))),
    ("dataclass", tt.Point(1, 2), record(M + "Point", ("x", H("01")), ("y", H("02")))),
    (
        "dataclass compare=False and ClassVar left out",
        tt.Labeled("l", [1], note="n"),
        record(M + "Labeled", ("label", text("l")), ("value", H("8101"))),
    ),
    ("Enum", tt.Color.RED, tag(ENUM, array(text(M + "Color"), text("RED")))),
    ("Enum alias is the member", tt.Color.CRIMSON, tag(ENUM, array(text(M + "Color"), text("RED")))),
    ("IntEnum", tt.Level.HIGH, tag(ENUM, array(text(M + "Level"), text("HIGH")))),
    ("Flag member", tt.Perm.R, tag(ENUM, array(text(M + "Perm"), text("R")))),
    ("Flag combination", tt.Perm.R | tt.Perm.W, tag(ENUM, array(text(M + "Perm"), uint(6)))),
    ("PurePosixPath", pathlib.PurePosixPath("/a/b"), obj("pathlib:PurePosixPath", text("/a/b"))),
    ("PureWindowsPath", pathlib.PureWindowsPath("c:/x"), obj("pathlib:PureWindowsPath", text("c:\\x"))),
    ("PosixPath", pathlib.PosixPath("rel/p") if sys.platform != "win32" else None, obj("pathlib:PosixPath", text("rel/p"))),
    ("__memokey__", tt.Hooked(3, cache=object()), obj(M + "Hooked", H("a161610" + "3"))),
    ("reduce: plain object", tt.Plain(x=1), record(M + "Plain", ("state", H("a1617801")))),
    ("reduce: no state", tt.Empty(), record(M + "Empty")),
    (
        "reduce: __slots__",
        tt.Slotted(1),
        record(M + "Slotted", ("state", tag(TUPLE, array(H("f6"), H("a1616101"))))),
    ),
    (
        "reduce: custom __reduce__",
        tt.WithArgs(7),
        record(M + "WithArgs", ("call", glob(M + "WithArgs")), ("args", tag(TUPLE, array(uint(7))))),
    ),
    ("reduce: named singleton", tt.SENTINEL, glob(M + "SENTINEL")),
    (
        "reduce: functools.partial",
        None,  # filled in below
        None,
    ),
    ("Tagged", memokey.Tagged(32, "abc"), H("d82063616263")),
]

# Built here to keep the table readable.
_attr_dict = tt.MyDict(a=1)
_attr_dict.note = "n"
CASES[[c[0] for c in CASES].index("dict subclass with attributes")] = (
    "dict subclass with attributes",
    _attr_dict,
    obj(M + "MyDict", H("a1616101"), H("a1646e6f7465616e")),
)
import functools  # noqa: E402

CASES[[c[0] for c in CASES].index("reduce: functools.partial")] = (
    "reduce: functools.partial",
    functools.partial(tt.module_function, 1),
    record(
        "functools:partial",
        ("call", glob("functools:partial")),
        ("args", tag(TUPLE, array(glob(M + "module_function")))),
        ("state", tag(TUPLE, array(glob(M + "module_function"), tag(TUPLE, array(uint(1))), H("a0"), H("f6")))),
    ),
)
CASES = [c for c in CASES if c[1] is not None or c[0] == "None"]


@pytest.mark.parametrize("name,value,expected", CASES, ids=[c[0] for c in CASES])
def test_encoding(name, value, expected):
    assert memokey.dumps(value).hex() == expected.hex()


def test_every_format_row_is_covered():
    """A reminder to add a case here for every new row of FORMAT.md §4."""
    names = " ".join(c[0] for c in CASES)
    for word in ["complex", "bytearray", "frozenset", "OrderedDict", "Counter", "defaultdict", "namedtuple",
                 "dataclass", "Enum", "Flag", "range", "slice", "Ellipsis", "NotImplemented", "class",
                 "function", "date", "datetime", "time", "timedelta", "Decimal", "Fraction", "UUID",
                 "PurePosixPath", "__memokey__", "reduce", "memoryview", "subclass"]:
        assert word in names, word


def test_record_matches_cpp_encode_record():
    """A dataclass geometry:Point is the golden C++ EncodeRecord vector."""
    geometry = types.ModuleType("geometry")

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    Point.__module__ = "geometry"
    Point.__qualname__ = "Point"
    geometry.Point = Point
    sys.modules["geometry"] = geometry
    try:
        memokey._core._clear_cache()
        assert memokey.dumps(Point(1, 2)).hex() == (
            "da006d6b04826e67656f6d657472793a506f696e74da006d6b0384617801617902"
        )
        assert memokey.hexkey(Point(1, 2)) == "df81ca10506c8c4a6c0f6d1705b86b7b"
    finally:
        del sys.modules["geometry"]
        memokey._core._clear_cache()


def test_register():
    memokey.register(tt.Registered, lambda r: (r.x,))
    try:
        assert memokey.dumps(tt.Registered(1, scratch=[9])) == obj(M + "Registered", H("da006d6b018101"))
        # Subclasses use the registration, with their own class id.
        assert memokey.dumps(tt.RegisteredChild(1)) == obj(M + "RegisteredChild", H("da006d6b018101"))

        @memokey.register(tt.RegisteredChild)
        def _child(r):
            return [r.x]

        assert memokey.dumps(tt.RegisteredChild(1)) == obj(M + "RegisteredChild", H("8101"))
    finally:
        memokey.unregister(tt.Registered)
        memokey.unregister(tt.RegisteredChild)
    # Unregistered: the reduce fallback, state {"x": 1, "scratch": None} sorted.
    assert memokey.dumps(tt.Registered(1)) == record(
        M + "Registered", ("state", H("a2") + text("x") + H("01") + text("scratch") + H("f6"))
    )


def test_register_refuses_fixed_types():
    for cls in (int, str, dict, list, tuple, float, bytes, set, frozenset, bool, type(None), object):
        with pytest.raises(TypeError):
            memokey.register(cls, repr)


def test_hook_reentrant():
    inner = {"x": [1, 2]}
    assert memokey.dumps(tt.NestedHook(inner)) == obj(M + "NestedHook", text(memokey.hexkey(inner)))


def test_subclass_never_collides_with_base():
    pairs = [
        ({"a": 1}, tt.MyDict(a=1)),
        ([1], tt.MyList([1])),
        ((1,), tt.MyTuple((1,))),
        ("a", tt.MyStr("a")),
        (5, tt.MyInt(5)),
        (1.5, tt.MyFloat(1.5)),
        ({1}, tt.MySet({1})),
        (frozenset({1}), tt.MyFrozenSet({1})),
        (b"a", tt.MyBytes(b"a")),
        (collections.OrderedDict(a=1), tt.MyOrderedDict(a=1)),
        ({"a": 1}, collections.Counter(a=1)),
        ({"a": 1}, collections.defaultdict(None, a=1)),
        (tt.Pair(1, 2), (1, 2)),
        (1, tt.Level.LOW),
    ]
    for base, sub in pairs:
        assert base == sub
        assert memokey.key(base) != memokey.key(sub), (base, sub)


def test_slotted_builtin_subclass_attributes():
    d = tt.SlottedDict(a=1)
    assert memokey.dumps(d) == obj(M + "SlottedDict", H("a1616101"))
    d.extra = 2
    assert memokey.dumps(d) == obj(M + "SlottedDict", H("a1616101"), H("a1656578747261") + H("02"))


def test_ordered_dict_order_matters_and_move_to_end():
    a = collections.OrderedDict([("a", 1), ("b", 2)])
    b = collections.OrderedDict([("b", 2), ("a", 1)])
    assert memokey.key(a) != memokey.key(b)
    b.move_to_end("b")
    assert memokey.dumps(a) == memokey.dumps(b)


def test_memoryview_formats_are_content():
    import array as pyarray

    a = pyarray.array("i", [1, 2])
    assert memokey.dumps(memoryview(a)) == byte_string(a.tobytes())


def test_bytes_large_and_in_maps():
    big = bytes(range(256)) * 20000  # 5 MB: zero-copy path outside maps, buffered inside
    assert memokey.dumps(big) == byte_string(big)
    assert memokey.dumps({"k": big}) == H("a1616b") + byte_string(big)
    assert memokey.loads(memokey.dumps([big, {"k": big}])) == [big, {"k": big}]


def test_registry_changed_during_encoding_is_safe():
    """A registered function that registers again clears the class cache
    while the outer walk is still using its entries."""

    def state(r):
        memokey.register(tt.Registered, state)
        return [r.x, tt.Plain(a=r.x)]

    memokey.register(tt.RegisteredChild, state)
    try:
        value = [tt.RegisteredChild(1), tt.MyDict(b=tt.RegisteredChild(2)), tt.RegisteredChild(3)]
        first = memokey.dumps(value)
        assert memokey.dumps(value) == first
    finally:
        memokey.unregister(tt.Registered)
        memokey.unregister(tt.RegisteredChild)


class _LyingSet(set):
    def __iter__(self):
        return iter([999])


class _LyingOrderedDict(collections.OrderedDict):
    def __iter__(self):
        return iter(["nope"])


_LyingSet.__module__ = _LyingOrderedDict.__module__ = __name__


def test_subclass_value_is_its_base_content_not_its_overrides():
    assert memokey.dumps(_LyingSet({1})) == obj(__name__ + ":_LyingSet", H("d901028101"))
    od = _LyingOrderedDict([("a", 1)])
    assert memokey.dumps(od) == obj(__name__ + ":_LyingOrderedDict", H("da006d6b0382616101"))
