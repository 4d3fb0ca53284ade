"""memokey.loads: round trips, strictness, Tagged, and safety."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import math
import subprocess
import sys
import uuid

import pytest

import memokey
import memokey_testtypes as tt

H = bytes.fromhex

DATA = [
    None,
    True,
    False,
    0,
    -1,
    2**64 - 1,
    -(2**64),
    2**64,
    -(2**64) - 1,
    3**200,
    -(7**150),
    0.0,
    -0.0,
    1.5,
    1e300,
    5e-324,
    math.inf,
    -math.inf,
    "",
    "héllo \U0001f600",
    b"",
    b"\x00\xff",
    bytearray(b"ab"),
    [],
    [1, [2, [3, []]]],
    (),
    (1, ("a", (None,))),
    {},
    {"b": 1, "a": [1, 2.5]},
    {1: "a", "1": 1, (1, 2): None, frozenset({3}): b"", None: 0, 2.5: 1, b"k": [], False: 2},
    {1, 2, 3},
    {"a", (1, 2), None, 4.5, b"x"},
    set(),
    frozenset({1, frozenset({2})}),
    collections.OrderedDict([("b", 1), ("a", {"z": 2})]),
    collections.OrderedDict(),
    complex(1.5, -2),
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 1, 2, fold=1, tzinfo=datetime.timezone(datetime.timedelta(hours=-5, microseconds=1))),
    datetime.time(23, 59, 58, 999999),
    datetime.time(1, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
    datetime.timedelta(days=-3, seconds=5, microseconds=7),
    datetime.timedelta.max,
    decimal.Decimal("1.10"),
    decimal.Decimal("-12.5E+3"),
    decimal.Decimal("0E-7"),
    decimal.Decimal("-0"),
    decimal.Decimal("-0.000"),
    decimal.Decimal("Infinity"),
    decimal.Decimal("-Infinity"),
    decimal.Decimal("123456789012345678901234567890.123456789"),
    fractions.Fraction(-7, 3),
    fractions.Fraction(2**80, 3),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    range(0, 10, 3),
    range(-5),
    slice(1, None, "x"),
    slice(None),
    memokey.Tagged(32, "http://example.org"),
    memokey.Tagged(12345678901, [1, {"a": memokey.Tagged(1, 2)}]),
]


@pytest.mark.parametrize("value", DATA, ids=[repr(v)[:40] for v in DATA])
def test_round_trip(value):
    data = memokey.dumps(value)
    back = memokey.loads(data)
    assert back == value
    assert type(back) is type(value)
    assert memokey.dumps(back) == data
    assert memokey.loads(bytearray(data)) == value
    assert memokey.loads(memoryview(data)) == value


def test_round_trip_special_floats_and_decimals():
    assert math.isnan(memokey.loads(memokey.dumps(math.nan)))
    assert math.copysign(1, memokey.loads(memokey.dumps(-0.0))) == -1
    for text in ["NaN", "-NaN", "sNaN", "NaN123", "-sNaN4"]:
        d = decimal.Decimal(text)
        back = memokey.loads(memokey.dumps(d))
        assert str(back) == str(d)
    z = memokey.loads(memokey.dumps(complex(math.nan, -0.0)))
    assert math.isnan(z.real) and math.copysign(1, z.imag) == -1


def test_datetime_keeps_offset_not_tzinfo():
    class Zone(datetime.tzinfo):
        def utcoffset(self, dt):
            return datetime.timedelta(hours=2)

        def dst(self, dt):
            return None

        def tzname(self, dt):
            return "Z2"

    dt = datetime.datetime(2024, 6, 1, 12, tzinfo=Zone())
    back = memokey.loads(memokey.dumps(dt))
    assert back == dt and back.utcoffset() == datetime.timedelta(hours=2)
    assert isinstance(back.tzinfo, datetime.timezone)
    assert memokey.dumps(back) == memokey.dumps(dt)


def test_objects_classes_and_unknown_tags_come_back_tagged():
    t = memokey.loads(memokey.dumps(tt.Point(1, 2)))
    # (the record's fields are an ordered map, a data type: an OrderedDict)
    assert t == memokey.Tagged(0x6D6B04, ["memokey_testtypes:Point", collections.OrderedDict(x=1, y=2)])
    assert memokey.loads(memokey.dumps(len)) == memokey.Tagged(0x6D6B05, "builtins:len")
    assert memokey.loads(memokey.dumps(tt.Color.RED)) == memokey.Tagged(0x6D6B0D, ["memokey_testtypes:Color", "RED"])
    assert memokey.loads(H("d8206161")) == memokey.Tagged(32, "a")
    assert repr(memokey.loads(H("d8206161"))) == "Tagged(32, 'a')"
    # and they re-encode to the same bytes
    for v in [tt.Point(1, 2), len, tt.Color.RED, tt.Plain(a=[1, {2}])]:
        data = memokey.dumps(v)
        assert memokey.dumps(memokey.loads(data)) == data


def test_tagged_is_immutable_and_hashable():
    t = memokey.Tagged(5, (1, "a"))
    with pytest.raises(AttributeError):
        t.tag = 6
    assert hash(t) == hash(memokey.Tagged(5, (1, "a")))
    assert t != memokey.Tagged(6, (1, "a"))
    with pytest.raises(ValueError):
        memokey.Tagged(-1, None)
    with pytest.raises(memokey.CanonicalizationError):
        memokey.dumps(memokey.Tagged(258, [1]))  # use a set


def test_loads_never_imports_or_calls():
    code = (
        "import sys, memokey\n"
        "data = memokey.dumps(memokey.Tagged(0x6D6B04, ['antigravity:fly', ['os:system', 'echo pwned']]))\n"
        "data2 = bytes.fromhex('da006d6b05') + b'\\x6f' + b'antigravity:fly'\n"
        "v = memokey.loads(data); w = memokey.loads(data2)\n"
        "assert type(v) is memokey.Tagged and type(w) is memokey.Tagged\n"
        "print('antigravity' in sys.modules, 'webbrowser' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "hexdata,offset,words",
    [
        ("a2616201616102", 4, "order"),  # unsorted map keys
        ("1817", 0, "overlong"),  # long head
        ("fa3fc00000", 0, "shortest"),  # float wider than needed
        ("f97e01", 0, "NaN"),  # non-canonical NaN
        ("5f4161ff", 0, "indefinite"),  # indefinite-length byte string
        ("c2420001", 2, "leading zero"),  # bignum with a leading zero byte
        ("c24101", 0, "64 bits"),  # bignum that fits in 64 bits
        ("d9010282020202", 5, "duplicate"),  # set: wrong order / duplicates
        ("a2616101616102", 4, "duplicate"),  # duplicate map key
        ("8101ff", 2, "trailing"),
        ("f93c", 2, "end"),
        ("d81e820204", 3, "canonical"),  # Fraction(2, 4): not in lowest terms
        ("da006d6b0983001a0001518000", 6, "canonical"),  # timedelta(0, 86400, 0): not normalized
        ("da006d6b0a63312e30", 0, "canonical"),  # Decimal('1.0') written as special text
        ("a201f5f502", 3, "equal in Python"),  # keys 1 and True
        ("a182010201", 1, "dict key"),  # an array as a map key
        ("f7", 0, "undefined"),
        ("d903ec6a323032342d31332d3031", 0, "date"),  # month 13
        ("d903ec6432303234", 0, "YYYY-MM-DD"),
    ],
)
def test_strict_rejects(hexdata, offset, words):
    with pytest.raises(memokey.DecodeError) as info:
        memokey.loads(H(hexdata))
    err = info.value
    assert isinstance(err, ValueError)
    assert err.offset == offset
    assert str(err).startswith(f"at byte {offset}: ")
    assert words.lower() in str(err).lower()


def test_lenient_canonicalizes():
    assert memokey.loads(H("a2616201616102"), strict=False) == {"a": 2, "b": 1}
    assert memokey.loads(H("1817"), strict=False) == 23
    assert memokey.loads(H("fa3fc00000"), strict=False) == 1.5
    assert memokey.loads(H("5f41614162ff"), strict=False) == b"ab"
    assert memokey.loads(H("d81e820204"), strict=False) == fractions.Fraction(1, 2)
    assert memokey.loads(H("da006d6b0983001a0001518000"), strict=False) == datetime.timedelta(days=1)
    with pytest.raises(memokey.DecodeError):
        memokey.loads(H("a201f5f502"), strict=False)  # still two keys equal in Python
    with pytest.raises(memokey.DecodeError):
        memokey.loads(H("ff"), strict=False)  # malformed in both modes


def test_depth_limit_matches_dumps():
    def nest(n):
        x = 0
        for _ in range(n):
            x = [x]
        return x

    deepest = nest(memokey.MAX_DEPTH)
    assert memokey.loads(memokey.dumps(deepest)) == deepest
    with pytest.raises(memokey.CanonicalizationError):
        memokey.dumps(nest(memokey.MAX_DEPTH + 1))
    with pytest.raises(memokey.DecodeError) as info:
        memokey.loads(b"\x81" * (memokey.MAX_DEPTH + 1) + b"\x00")
    assert info.value.offset == memokey.MAX_DEPTH + 1
    # Tags count as levels on both sides.
    t = 0
    for _ in range(memokey.MAX_DEPTH // 2):
        t = (t,)
    assert memokey.loads(memokey.dumps(t)) == t
    with pytest.raises(memokey.CanonicalizationError):
        memokey.dumps((t,))


def test_loads_type_errors():
    with pytest.raises(TypeError):
        memokey.loads("a2")
    with pytest.raises(TypeError):
        memokey.loads(b"\x00", bogus=True)
