"""The golden vectors, byte for byte.

tests/vectors/canonical-v1.json is shared with the C++ tests;
tests/vectors/canonical-v1-python.json holds Python-only vectors (same
schema, computed independently of memokey: see make_canonical_v1_python.py).
For every vector with a Python expression: dumps(value) is the hex, hexkey
is the key, and where the value is a data type loads() gives it back.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import http
import json
import math
import pathlib
import re
import urllib.parse
import uuid
from pathlib import Path

import pytest

import memokey

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FILES = ["canonical-v1.json", "canonical-v1-python.json"]

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None


def _optional(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


# Data frame vectors need their library (and pandas 3, whose default string
# dtype is "str"); they are skipped where it is not installed.
pd, pl, pa = _optional("pandas"), _optional("polars"), _optional("pyarrow")
# Vectors whose expression needs an optional library: prefix -> module.
OPTIONAL = {"np.": np, "pd.": pd, "pl.": pl, "pa.": pa}


def load(name: str) -> list[dict]:
    path = VECTORS / name
    if not path.exists():
        return []
    return json.loads(path.read_text())["vectors"]


ALL = [(f, v) for f in FILES for v in load(f)]
WITH_PYTHON = [(f, v) for f, v in ALL if v.get("python")]

NAMESPACE = {
    "collections": collections,
    "datetime": datetime,
    "decimal": decimal,
    "fractions": fractions,
    "math": math,
    "uuid": uuid,
    "pathlib": pathlib,
    "http": http,
    "re": re,
    "urllib": urllib,
    "np": np,
    "pd": pd,
    "pl": pl,
    "pa": pa,
    "memokey": memokey,
}


# What loads() rebuilds (docs of memokey.loads).
DATA_TYPES = {
    type(None), bool, int, float, str, bytes, bytearray, list, dict, tuple, set, frozenset,
    collections.OrderedDict, complex, datetime.date, datetime.datetime, datetime.time,
    datetime.timedelta, decimal.Decimal, fractions.Fraction, uuid.UUID, range, slice,
    memokey.Tagged,
}


def evaluate(expr: str):
    for prefix, module in OPTIONAL.items():
        if prefix in expr and module is None:
            pytest.skip(f"{prefix[:-1]} not installed")
    if "pd." in expr and int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("pandas < 3 (its default string dtype is object)")
    return eval(expr, dict(NAMESPACE))  # noqa: S307 - test vectors from the repository


def test_vector_files_present():
    assert load("canonical-v1.json"), "tests/vectors/canonical-v1.json is missing or empty"
    assert load("canonical-v1-python.json"), "tests/vectors/canonical-v1-python.json is missing or empty"


@pytest.mark.parametrize("source,vector", WITH_PYTHON, ids=[f"{f}:{v['name']}" for f, v in WITH_PYTHON])
def test_vector(source, vector):
    value = evaluate(vector["python"])
    assert memokey.dumps(value).hex() == vector["hex"]
    assert memokey.hexkey(value, vector["namespace"]) == vector["key"]
    assert memokey.key(value, namespace=vector["namespace"]).hex() == vector["key"]


@pytest.mark.parametrize("source,vector", ALL, ids=[f"{f}:{v['name']}" for f, v in ALL])
def test_vector_loads(source, vector):
    data = bytes.fromhex(vector["hex"])
    value = memokey.loads(data)  # strict: every golden vector is canonical
    assert memokey.dumps(value) == data
    if vector.get("python") and not any(prefix in vector["python"] for prefix in OPTIONAL):
        expected = evaluate(vector["python"])
        if type(expected) not in DATA_TYPES:
            assert isinstance(value, memokey.Tagged)  # classes, functions, objects: not rebuilt
            return
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(value)
        elif isinstance(expected, complex) and expected != expected:
            assert str(value) == str(expected)
        elif isinstance(expected, decimal.Decimal) and expected.is_nan():
            assert str(value) == str(expected)
        else:
            assert value == expected
            assert type(value) is type(expected)


def test_python_vectors_match_their_provenance_script():
    """canonical-v1-python.json is what make_canonical_v1_python.py (cbor2 +
    xxhash, no memokey) computes: nobody edited a vector by hand."""
    import subprocess
    import sys

    script = Path(__file__).with_name("make_canonical_v1_python.py")
    subprocess.run([sys.executable, str(script), "--check"], check=True)
