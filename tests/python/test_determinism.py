"""Determinism: same value -> same key, in any process, with any hash seed,
whatever the insertion order; different values or types -> different keys."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import json
import multiprocessing
import os
import pickle
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memokey
import memokey_testtypes as tt
from strategies import contains_nan, rebuild, values

HERE = str(Path(__file__).resolve().parent)

CHILD = (
    "import sys, pickle, json, memokey\n"
    "vals = pickle.loads(sys.stdin.buffer.read())\n"
    "print(json.dumps([[memokey.hexkey(v), memokey.dumps(v).hex()] for v in vals]))\n"
)

HASH_SEEDS = ["0", "1", "271828", "4294967295"]


def child_env(seed: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = seed
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    return env


def keys_in_children(vals: list) -> list[list]:
    """[hexkey, dumps hex] of each value, from one child per hash seed (run concurrently)."""
    data = pickle.dumps(vals)
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=child_env(seed))
        for seed in HASH_SEEDS
    ]
    results = []
    for p in procs:
        out, err = p.communicate(data, timeout=120)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    return results


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(values, min_size=10, max_size=30))
def test_same_keys_across_hash_seeds(vals):
    expected = [[memokey.hexkey(v), memokey.dumps(v).hex()] for v in vals]
    for result in keys_in_children(vals):
        assert result == expected


def sample_values() -> list:
    """A fixed mix of values of every kind, including classes from a module."""
    rng = random.Random(42)
    words = ["".join(rng.choice("abcdefgh\u00e9\U0001f600") for _ in range(rng.randint(0, 6))) for _ in range(40)]
    return [
        set(words),
        frozenset(words[:10]),
        {w: i for i, w in enumerate(words)},
        {(w, i): {w} for i, w in enumerate(words[:8])},
        [set(words[i:i + 5]) for i in range(0, 40, 5)],
        collections.Counter(words),
        collections.OrderedDict((w, i) for i, w in enumerate(words[:5])),
        collections.defaultdict(list, {w: [w] for w in words[:5]}),
        tt.Point(1, 2),
        tt.Labeled("x", {"a", "b", "c"}),
        tt.Pair({"k": 1}, frozenset(words[:4])),
        tt.Color.GREEN,
        tt.Perm.R | tt.Perm.X,
        tt.Plain(a=set(words[:6]), b={"x": [1.5, None]}),
        tt.Slotted(1, {2, 3}),
        tt.Hooked({"q", "r", "s"}),
        tt.MyDict({w: w for w in words[:6]}),
        datetime.datetime(2020, 5, 17, 1, 2, 3, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=9))),
        decimal.Decimal("3.14159"),
        fractions.Fraction(22, 7),
        uuid.UUID(int=2**100 + 5),
        (1, 1.0, True, "1", b"1", None),
        2**200,
        float("nan"),
        tt.module_function,
        tt.SENTINEL,
    ]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_same_keys_under_start_methods(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} not available")
    vals = sample_values()
    expected = [(memokey.hexkey(v), memokey.dumps(v).hex()) for v in vals]
    ctx = multiprocessing.get_context(method)
    half = len(vals) // 2
    with ctx.Pool(2) as pool:
        got = pool.map(tt.hexkeys_and_dumps, [vals[:half], vals[half:]])
    assert got[0] + got[1] == expected


def test_sample_values_across_hash_seeds():
    vals = sample_values()
    expected = [[memokey.hexkey(v), memokey.dumps(v).hex()] for v in vals]
    for result in keys_in_children(vals):
        assert result == expected


@settings(max_examples=300, deadline=None)
@given(values, st.randoms(use_true_random=False))
def test_insertion_order_does_not_matter(x, rnd):
    y = rebuild(x, random.Random(rnd.random()))
    assert memokey.key(x) == memokey.key(y)
    assert memokey.dumps(x) == memokey.dumps(y)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip(x):
    data = memokey.dumps(x)
    back = memokey.loads(data)
    assert memokey.dumps(back) == data
    if not contains_nan(x):
        assert back == x


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_different_values_different_bytes(x, y):
    # Canonical bytes are injective on these values: equal bytes <=> equal values.
    if contains_nan(x) or contains_nan(y):
        return
    same_bytes = memokey.dumps(x) == memokey.dumps(y)
    if same_bytes:
        assert x == y


DISTINCT = [
    (1, True),
    (1, 1.0),
    (True, 1.0),
    (0, False),
    (0.0, -0.0),
    (0, 0.0),
    ([1, 2], (1, 2)),
    ("a", b"a"),
    ({1, 2}, frozenset({1, 2})),
    ({"a": 1}, collections.OrderedDict(a=1)),
    ({"a": 1}, tt.MyDict(a=1)),
    ({"a": 1}, collections.Counter(a=1)),
    (datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)),
    (datetime.time(1), datetime.time(1, tzinfo=datetime.timezone.utc)),
    (
        datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone.utc),
        datetime.datetime(2024, 1, 1, 13, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
    ),
    (datetime.datetime(2024, 1, 1, 1, fold=0), datetime.datetime(2024, 1, 1, 1, fold=1)),
    (datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1)),
    (decimal.Decimal("1.0"), decimal.Decimal("1.00")),
    (decimal.Decimal("1"), 1),
    (decimal.Decimal("0"), decimal.Decimal("-0")),
    (fractions.Fraction(1, 2), 0.5),
    (complex(1, 0), 1.0),
    (range(3), [0, 1, 2]),
    ([], ()),
    ({}, set()),
    (None, ()),
    ("", b""),
    (tt.Point(1, 2), (1, 2)),
    (tt.Pair(1, 2), (1, 2)),
    (tt.Color.RED, 1),
    (tt.Level.LOW, 1),
    (bytearray(b"a"), b"a"),
    (tt.MyStr("a"), "a"),
    (len, "builtins:len"),
    (int, "builtins:int"),
    ([[1]], [1]),
    ({"a": (1,)}, {"a": [1]}),
]


@pytest.mark.parametrize("a,b", DISTINCT, ids=[f"{a!r} vs {b!r}"[:60] for a, b in DISTINCT])
def test_distinct_pairs_differ(a, b):
    assert memokey.key(a) != memokey.key(b)
    assert memokey.dumps(a) != memokey.dumps(b)


def test_namespaces_separate_keys():
    keys = {memokey.key(1), memokey.key(1, ""), memokey.key(1, "a"), memokey.key(1, "b"), memokey.key(1, namespace="é")}
    assert len(keys) == 5
    assert memokey.key(1, "a") == memokey.key(1, namespace="a")
