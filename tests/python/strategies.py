"""hypothesis strategies over nested Python values for the memokey tests."""

from __future__ import annotations

import collections
import math
import random
from typing import Any

from hypothesis import strategies as st

# Text including non-BMP characters (hypothesis never generates surrogates
# in text(), which memokey refuses by design).
texts = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=4),
)
ints = st.one_of(st.integers(-(2**70), 2**70), st.integers(-(2**300), 2**300), st.integers(-30, 30))
floats = st.floats(allow_nan=True, allow_infinity=True)

scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts, st.binary(max_size=8))

# Hashable values for dict keys and set elements. No floats or bools: 1, 1.0
# and True (and 0.0 and -0.0) are equal in Python, so a dict or set keeps
# whichever came first and "the same" value would depend on insertion order.
hashables = st.recursive(
    st.one_of(st.none(), st.integers(-(2**70), 2**70), texts, st.binary(max_size=4)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(inner, max_size=3),
    ),
    max_leaves=6,
)

values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(texts, children, max_size=5),
        st.dictionaries(hashables, children, max_size=4),
        st.sets(hashables, max_size=5),
        st.sets(texts, max_size=6),  # str hashes (and so set order) depend on PYTHONHASHSEED
        st.frozensets(hashables, max_size=4),
        st.sets(floats.filter(lambda f: f != 0), max_size=4),
        st.lists(st.tuples(hashables, children), max_size=4).map(collections.OrderedDict),
    ),
    max_leaves=25,
)

# JSON-like data: what cbor2 and memokey must encode identically.
json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, floats, texts),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(texts, children, max_size=5)),
    max_leaves=25,
)


def rebuild(x: Any, rng: random.Random) -> Any:
    """An equal value whose dicts and sets were built in another insertion order."""
    t = type(x)
    if t is dict:
        items = list(x.items())
        rng.shuffle(items)
        return {rebuild(k, rng): rebuild(v, rng) for k, v in items}
    if t is collections.OrderedDict:  # order is part of its value
        return collections.OrderedDict((rebuild(k, rng), rebuild(v, rng)) for k, v in x.items())
    if t in (set, frozenset):
        items = [rebuild(e, rng) for e in x]
        rng.shuffle(items)
        if t is set:
            out = set()
            for e in items:
                out.add(e)
            return out
        return frozenset(items)
    if t is list:
        return [rebuild(e, rng) for e in x]
    if t is tuple:
        return tuple(rebuild(e, rng) for e in x)
    if t is float and math.isnan(x):
        return float("nan")  # another NaN object
    return x


def contains_nan(x: Any) -> bool:
    t = type(x)
    if t is float:
        return math.isnan(x)
    if t in (list, tuple, set, frozenset):
        return any(contains_nan(e) for e in x)
    if t in (dict, collections.OrderedDict):
        return any(contains_nan(k) or contains_nan(v) for k, v in x.items())
    return False
