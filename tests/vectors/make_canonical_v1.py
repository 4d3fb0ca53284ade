"""Provenance of tests/vectors/canonical-v1.json — run once, then frozen.

The golden vectors were computed WITHOUT memokey's own code, so that they
check it rather than echo it: the canonical bytes come from cbor2 (its
canonical mode follows RFC 8949 §4.2.1 for the core data model) and from
CBORTag with hand-sorted content for memokey's tags; the keys come from the
`xxhash` package over the frame of docs/FORMAT.md §5.

Never regenerate the file to make a test pass: a change in any vector is a
change of the format, which needs a new format version. This script exists
so that a reader can see where each byte came from, and so that new vectors
can be appended (run with --check to verify the file still matches).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cbor2
import xxhash
from cbor2 import CBORTag

MK = 0x6D6B00
TUPLE, FROZENSET, ORDERED_MAP, OBJECT, GLOBAL, COMPLEX = (MK + i for i in range(1, 7))
DATETIME, TIME, TIMEDELTA, DECIMAL_SPECIAL, RANGE, SLICE, ENUM = (MK + i for i in range(7, 14))


def enc(value) -> bytes:
    return cbor2.dumps(value, canonical=True)


def sorted_set(tag: int, elements: list) -> CBORTag:
    """A set tag over elements sorted bytewise by their canonical encodings."""
    encoded = sorted({enc(e): e for e in elements}.items())
    return CBORTag(tag, [e for _, e in encoded])


def frame(value_bytes: bytes, namespace: str | None) -> bytes:
    head = bytes.fromhex("84") + enc("memokey") + enc(1) + enc(namespace)
    return head + value_bytes


# (name, python expression or None, value as cbor2 input, namespace, C++ builds it natively)
V = []


def add(name, python, cbor_value, namespace=None, *, raw: bytes | None = None):
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


for n in [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]:
    add(f"uint {n}", repr(n), n)
for n in [-1, -24, -25, -256, -257, -(2**63), -(2**64)]:
    add(f"negative {n}", repr(n), n)
add("bignum 2**64", "2**64", 2**64)
add("bignum -(2**64)-1", "-(2**64) - 1", -(2**64) - 1)
add("bignum 2**128", "2**128", 2**128)
add("false", "False", False)
add("true", "True", True)
add("null", "None", None)
for name, expr, f, raw in [
    ("float 0.0", "0.0", 0.0, None),
    ("float -0.0", "-0.0", None, bytes.fromhex("f98000")),
    ("float 1.0", "1.0", 1.0, None),
    ("float 1.5", "1.5", 1.5, None),
    ("float 65504.0", "65504.0", 65504.0, None),
    ("float 100000.0", "100000.0", 100000.0, None),
    ("float 1.1", "1.1", 1.1, None),
    ("float 1e300", "1e300", 1e300, None),
    ("float smallest half subnormal", "5.960464477539063e-08", 5.960464477539063e-08, None),
    ("float infinity", "math.inf", math.inf, None),
    ("float -infinity", "-math.inf", -math.inf, None),
    ("float nan", "math.nan", None, bytes.fromhex("f97e00")),
    ("float -nan", "-math.nan", None, bytes.fromhex("f97e00")),
]:
    add(name, expr, f, raw=raw)
for s in ["", "a", "IETF", "\u00fc", "\u6c34", "\U0001d11e"]:
    add(f"text {s!r}", repr(s), s)
add("bytes empty", "b''", b"")
add("bytes 0102", "b'\\x01\\x02'", b"\x01\x02")
add("array empty", "[]", [])
add("array nested", "[1, [2, 3], [4, 5]]", [1, [2, 3], [4, 5]])
add("map issue example", "{'b': 1, 'a': [1, 2.5]}", {"b": 1, "a": [1, 2.5]})
add("map bytewise not length-first", "{'aa': 1, 'b': 2}", {"aa": 1, "b": 2})
add("map mixed keys", "{'a': 3, 1: 2, -1: 0, b'x': 4}", {"a": 3, 1: 2, -1: 0, b"x": 4})
add("map empty", "{}", {})
# cbor2's canonical mode orders map keys length-first (RFC 7049); RFC 8949
# §4.2.1 orders them bytewise. These two differ between the rules, so their
# bytes are written out by hand: 256 (190100) sorts before "a" (6161).
add("map bytewise across types", "{'a': 1, 256: 2}", None, raw=bytes.fromhex("a21901000261610" + "1"))
add("set bytewise across types", "{-1, 24}", None, raw=bytes.fromhex("d90102821818" + "20"))
add("tuple empty", "()", CBORTag(TUPLE, []))
add("tuple (1, 'a')", "(1, 'a')", CBORTag(TUPLE, [1, "a"]))
add("array [1, 'a']", "[1, 'a']", [1, "a"])
add("set {1, 2, 3}", "{3, 1, 2}", sorted_set(258, [1, 2, 3]))
add("set of text", "{'b', 'a', 'aa'}", sorted_set(258, ["b", "a", "aa"]))
add("set empty", "set()", CBORTag(258, []))
add("frozenset {1, 2}", "frozenset({2, 1})", sorted_set(FROZENSET, [1, 2]))
add("ordered map", "collections.OrderedDict([('b', 1), ('a', 2)])", CBORTag(ORDERED_MAP, ["b", 1, "a", 2]))
add("complex 1+2j", "complex(1, 2)", CBORTag(COMPLEX, [1.0, 2.0]))
add("date 2024-01-02", "datetime.date(2024, 1, 2)", CBORTag(1004, "2024-01-02"))
add(
    "datetime naive",
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 6)",
    CBORTag(DATETIME, [2024, 1, 2, 3, 4, 5, 6, 0, None]),
)
add(
    "datetime utc",
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)",
    CBORTag(DATETIME, [2024, 1, 2, 3, 4, 5, 6, 0, 0]),
)
add(
    "datetime +01:30 fold 1",
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 0, datetime.timezone(datetime.timedelta(hours=1, minutes=30)), fold=1)",
    CBORTag(DATETIME, [2024, 1, 2, 3, 4, 5, 0, 1, 5_400_000_000]),
)
add("time naive", "datetime.time(23, 59, 58, 999999)", CBORTag(TIME, [23, 59, 58, 999999, 0, None]))
add("timedelta", "datetime.timedelta(days=-1, seconds=5, microseconds=7)", CBORTag(TIMEDELTA, [-1, 5, 7]))
add("decimal 1.10", "decimal.Decimal('1.10')", CBORTag(4, [-2, 110]))
add("decimal -12.5E+3", "decimal.Decimal('-12.5E+3')", CBORTag(4, [2, -125]))
add("decimal -0", "decimal.Decimal('-0')", CBORTag(DECIMAL_SPECIAL, "-0"))
add("decimal NaN", "decimal.Decimal('NaN')", CBORTag(DECIMAL_SPECIAL, "NaN"))
add("decimal -Infinity", "decimal.Decimal('-Infinity')", CBORTag(DECIMAL_SPECIAL, "-Infinity"))
add("fraction 1/3", "fractions.Fraction(1, 3)", CBORTag(30, [1, 3]))
add(
    "uuid",
    "uuid.UUID('12345678-1234-5678-1234-567812345678')",
    CBORTag(37, bytes.fromhex("12345678123456781234567812345678")),
)
add("range", "range(0, 10, 2)", CBORTag(RANGE, [0, 10, 2]))
add("slice", "slice(1, None, 2)", CBORTag(SLICE, [1, None, 2]))
add("ellipsis", "...", CBORTag(GLOBAL, "builtins:Ellipsis"))
add("global len", "len", CBORTag(GLOBAL, "builtins:len"))
add("bytearray", "bytearray(b'ab')", CBORTag(OBJECT, ["builtins:bytearray", b"ab"]))
add("counter", "collections.Counter('aab')", CBORTag(OBJECT, ["collections:Counter", {"a": 2, "b": 1}]))
add(
    "record geometry:Point",
    None,
    CBORTag(OBJECT, ["geometry:Point", CBORTag(ORDERED_MAP, ["x", 1, "y", 2])]),
)
add(
    "numpy int32 arange(3)",
    "np.arange(3, dtype='<i4')",
    CBORTag(40, [[3], CBORTag(78, bytes.fromhex("000000000100000002000000"))]),
)
add(
    "numpy float64 2x2",
    "np.array([[1.0, 2.0], [3.0, 4.0]])",
    CBORTag(40, [[2, 2], CBORTag(86, b"".join(__import__("struct").pack("<d", x) for x in (1, 2, 3, 4)))]),
)
add("namespace none", "1", 1, None)
add("namespace empty", "1", 1, "")
add("namespace ns", "1", 1, "ns")


# SHA-256 keys (memokey/key_sha256.h, docs/FORMAT.md §5): hashlib over the
# frame ["memokey-sha256", 1, namespace, value] -- memokey's code not involved.
def frame_sha256(value_bytes: bytes, namespace: str | None) -> bytes:
    return bytes.fromhex("84") + enc("memokey-sha256") + enc(1) + enc(namespace) + value_bytes


SHA256 = []


def add_sha256(name, python, cbor_value, namespace=None):
    data = enc(cbor_value)
    SHA256.append(
        {
            "name": name,
            "python": python,
            "hex": data.hex(),
            "namespace": namespace,
            "sha256": __import__("hashlib").sha256(frame_sha256(data, namespace)).hexdigest(),
        }
    )


add_sha256("sha256 uint 1", "1", 1)
add_sha256("sha256 uint 1, empty namespace", "1", 1, "")
add_sha256("sha256 readme map, namespace demo", "{'b': 1, 'a': [1, 2.5]}", {"b": 1, "a": [1, 2.5]}, "demo")
add_sha256("sha256 bytes 20000 (streamed)", "bytes(20000)", bytes(20000), "ns")


def main() -> int:
    out = Path(__file__).with_name("canonical-v1.json")
    doc = {
        "format": "memokey canonical form v1",
        "frame": "XXH3-128 over the canonical encoding of ['memokey', 1, namespace, value]",
        "vectors": V,
        "sha256_frame": "SHA-256 over the canonical encoding of ['memokey-sha256', 1, namespace, value]",
        "sha256_vectors": SHA256,
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if out.read_text(encoding="utf-8") != text:
            print("canonical-v1.json differs from its provenance script", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
