"""safe=True results: numpy arrays and dataclasses of data come back as
themselves from the store; anything else is refused, and a stored value that
names other code is never run (issue 14, item 5)."""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

import pytest

import memokey

np = pytest.importorskip("numpy")


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass(frozen=True)
class Frozen:
    name: str
    tags: frozenset


@dataclasses.dataclass(slots=True)
class Slotted:
    a: int
    b: Optional[Point]


@dataclasses.dataclass
class Report:
    title: str
    points: list
    grid: Any
    nested: dict


@dataclasses.dataclass
class Partly:
    x: int
    cache: dict = dataclasses.field(default_factory=dict, compare=False)


class Tracked:
    """Not a dataclass: nothing of it may run when a stored value names it."""

    events: list[str] = []

    def __new__(cls, *args: Any, **kwargs: Any) -> "Tracked":
        Tracked.events.append("new")
        return super().__new__(cls)

    def __init__(self, x: int = 0) -> None:
        Tracked.events.append("init")

    def __setattr__(self, name: str, value: Any) -> None:
        Tracked.events.append("setattr")
        super().__setattr__(name, value)


RESULTS = {
    "int32 2-d": lambda: np.arange(12, dtype=np.int32).reshape(3, 4),
    "float64 big-endian": lambda: np.array([1.5, -2.25], dtype=">f8"),
    "bool": lambda: np.array([[True, False], [False, True]]),
    "complex": lambda: np.array([1 + 2j, 3 - 4j]),
    "str": lambda: np.array(["ab", "c"]),
    "datetime64": lambda: np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
    "structured": lambda: np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
    "empty": lambda: np.zeros((2, 0)),
    "float64 scalar": lambda: np.float64(2.5),
    "dataclass": lambda: Point(1, 2.5),
    "frozen dataclass": lambda: Frozen("f", frozenset({1, 2})),
    "slots dataclass": lambda: Slotted(3, Point(4, 5.0)),
    "nested": lambda: Report("r", [Point(1, 0.5), Point(2, 1.5)], np.eye(2),
                             {"k": (Point(0, 0.0), np.arange(3))}),
}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and memokey.dumps(a) == memokey.dumps(b)


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_round_trip_through_the_store(kind: str, tmp_path: Path) -> None:
    url = f"disk://{tmp_path}"
    make = RESULTS[kind]

    def compute(_: str) -> Any:
        return make()

    writer = memokey.memoize(compute, store=url, safe=True, name="safe:r", version=1)
    first = writer(kind)
    # A second function with the same identity and no memory tier reads the store.
    reader = memokey.memoize(compute, store=url, safe=True, name="safe:r", version=1, memory=0)
    back = reader(kind)
    info = reader.cache_info()
    assert (info.computed, info.decode_failed, info.hits, info.tiers["memory"]) == (0, 0, 1, 0)
    assert back is not first and _same(back, first)
    if isinstance(first, np.ndarray):
        assert back.dtype == first.dtype.newbyteorder("<") or back.dtype == first.dtype
        assert back.shape == first.shape and np.array_equal(back, first)
        assert back.flags.writeable
    elif dataclasses.is_dataclass(first):
        assert repr(back) == repr(first)


@pytest.mark.parametrize("result, where", [
    (np.array([object(), 1], dtype=object), "result"),
    (Tracked(), "result"),
    (Partly(1), "result"),
    ({"a": [Point(1, 2.0), os.getcwd]}, "result['a'][1]"),
])
def test_refused_results(result: Any, where: str) -> None:
    f = memokey.memoize(lambda: result, store=False, safe=True)
    with pytest.raises(memokey.SafeModeError, match=r"not a data value") as info:
        f()
    assert where in str(info.value)


def _plant(tmp_path: Path, value: Any) -> Any:
    """A safe function whose store holds `value` (a correctly sealed CBOR
    payload: the MAC verifies) under the key of f(7)."""
    store = memokey.open_store(f"disk://{tmp_path}")
    computed: list[int] = []

    @memokey.memoize(store=store, safe=True, name="safe:planted", version=1)
    def f(x: int) -> int:
        computed.append(x)
        return x * 2

    key = f.key(7)
    store.put(key, memokey.seal_envelope(key, memokey.CODEC_CBOR, memokey.dumps(value)))
    f.computed = computed
    return f


@pytest.mark.parametrize("class_id", ["os:system", f"{__name__}:Tracked",
                                      "subprocess:Popen", "not_imported_module_xyz:Thing"])
def test_a_stored_value_naming_other_code_is_refused_not_run(
        class_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a) or 0)
    Tracked.events.clear()
    hostile = memokey.Tagged(0x6D6B04, [class_id, OrderedDict([("args", ["echo", "pwned"]),
                                                               ("x", 1)])])
    f = _plant(tmp_path, hostile)
    assert f(7) == 14  # the planted value was refused: computed instead
    assert f.computed == [7]
    assert f.cache_info().decode_failed == 1
    assert ran == [] and Tracked.events == []


def test_a_stored_object_array_is_refused(tmp_path: Path) -> None:
    hostile = memokey.Tagged(40, [[1], ["os:system"]])
    f = _plant(tmp_path, hostile)
    assert f(7) == 14
    assert f.cache_info().decode_failed == 1


def test_a_stored_dataclass_with_other_fields_is_refused(tmp_path: Path) -> None:
    # Point's fields are x and y: extra or missing fields are not a Point.
    hostile = memokey.Tagged(0x6D6B04, [f"{__name__}:Point",
                                        OrderedDict([("x", 1), ("__class__", "os:system")])])
    f = _plant(tmp_path, hostile)
    assert f(7) == 14
    assert f.cache_info().decode_failed == 1
