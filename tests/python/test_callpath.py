"""The decorator's call path (issue 14): one Python frame per memoized call,
recursion as deep as functools.lru_cache, tracebacks without memokey frames,
ttl=0, memokey.explain returning its text, the README's key."""

from __future__ import annotations

import datetime
import functools
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest

import memokey

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = os.path.dirname(memokey.__file__)


def _deepest(make: Callable[[], Callable[[int], int]]) -> int:
    """The largest n for which a fresh make()(n) returns (binary search)."""
    lo, hi = 1, sys.getrecursionlimit() * 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        f = make()
        try:
            f(mid)
            lo = mid
        except RecursionError:
            hi = mid - 1
    return lo


def _lru_fib() -> Callable[[int], int]:
    @functools.lru_cache(maxsize=None)
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    return fib


def _memo_fib() -> Callable[[int], int]:
    @memokey.memoize(store=False)
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    return fib


def test_recursion_reaches_lru_cache_depth() -> None:
    # Both under this process's recursion limit, measured the same way.
    lru = _deepest(_lru_fib)
    memo = _deepest(_memo_fib)
    print(f"\nrecursion limit {sys.getrecursionlimit()}: lru_cache fib reaches {lru}, "
          f"memokey fib {memo}")
    assert memo >= lru
    assert _memo_fib()(300) == _lru_fib()(300)


def _frame_depth() -> int:
    depth, frame = 0, sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


@pytest.mark.parametrize("where", ["memory", "disk", "disk+cache_exceptions"])
def test_a_memoized_call_adds_one_frame(where: str, tmp_path: Path) -> None:
    depths: dict[int, int] = {}
    store: Any = False if where == "memory" else f"disk://{tmp_path}"

    @memokey.memoize(store=store, cache_exceptions=where.endswith("exceptions"))
    def down(n: int) -> int:
        depths[n] = _frame_depth()
        return 0 if n == 0 else down(n - 1) + 1

    assert down(20) == 20  # every level a miss: the slow path, store and lease included
    steps = {depths[n] - depths[n + 1] for n in range(20)}
    assert steps == {1}, depths


def test_a_traceback_shows_the_users_frames_only(tmp_path: Path) -> None:
    @memokey.memoize(store=f"disk://{tmp_path}", cache_exceptions=True)
    def down(n: int) -> int:
        if n == 0:
            raise ValueError("bottom")
        return down(n - 1)

    for attempt in ("computed", "cached"):
        with pytest.raises(ValueError) as info:
            down(3)
        frames = traceback.extract_tb(info.value.__traceback__)
        inside = [f for f in frames if os.path.dirname(f.filename) == PACKAGE_DIR]
        assert inside == [], f"{attempt}: {[(f.filename, f.name) for f in inside]}"
    # The first call ran four levels of down(); the second got the cached
    # exception at the top (a fresh copy, raised from C).
    assert down.cache_info().computed == 4


def test_a_base_exception_ends_the_flight() -> None:
    class Stop(BaseException):
        pass

    calls = []

    @memokey.memoize(store=False)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise Stop()
        return x

    with pytest.raises(Stop):
        f(1)
    # Another thread is not left waiting for the abandoned flight.
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(f(1)))
    t.start()
    t.join(10)
    assert out == [1] and calls == [1, 1]


def test_a_result_that_cannot_be_kept_raises_and_frees_the_key() -> None:
    # A result safe=True cannot encode raises SafeModeError from _done (after
    # the C wrapper ran the function); the flight ends, so the key can be
    # called again.
    @memokey.memoize(store=False, safe=True)
    def f(x: int) -> Any:
        return object() if x else 1

    with pytest.raises(memokey.SafeModeError):
        f(1)
    assert f(0) == 1
    with pytest.raises(memokey.SafeModeError):
        f(1)


@pytest.mark.parametrize("ttl", [0, 0.0, datetime.timedelta(0)])
def test_ttl_zero_is_refused(ttl: Any) -> None:
    with pytest.raises(ValueError, match=r"ttl=0 .*ttl=None"):
        memokey.memoize(store=False, ttl=ttl)(lambda x: x)


def test_ttl_none_never_expires() -> None:
    f = memokey.memoize(store=False, ttl=None)(lambda x: [x])
    assert f(1) is f(1)
    assert f.cache_parameters()["ttl"] is None


def test_explain_returns_without_printing(capsys: pytest.CaptureFixture[str]) -> None:
    got = memokey.explain({"a": [1, 2]}, {"a": [1, 2.0]})
    assert capsys.readouterr().out == ""
    assert got == "obj['a'][1]: int 2 vs float 2.0" and repr(got) == str(got)
    assert not got.same and got.path == "obj['a'][1]"


def test_readme_key_is_the_cpp_quickstarts() -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"memokey\.hexkey\((\{.*?\})\)\s+# '([0-9a-f]{32})': the C\+\+ quickstart", readme)
    assert m, "the README's hexkey example line"
    value = eval(m.group(1), {})  # a dict literal from our own README
    assert memokey.hexkey(value) == m.group(2)
    # examples/cpp/quickstart.cc exits non-zero unless KeyOf(config) is this
    # key (ctest's install_find_package runs it).
    assert f'config_key == "{m.group(2)}"' in (ROOT / "examples/cpp/quickstart.cc").read_text()


# --- a miss is decided in C (issue 13): how often it enters memokey's Python code ---------------


def _python_entries(call: Callable[[], Any]) -> list[str]:
    """The memokey Python functions (and memokey's C methods called from
    Python) entered during call(): the language crossings of one call."""
    entered: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE_DIR):
            # Count each entry from outside memokey's Python once: nested
            # calls (a generator inside the normalizer) are the same crossing.
            caller = frame.f_back
            if caller is None or not caller.f_code.co_filename.startswith(PACKAGE_DIR):
                entered.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entered


def test_a_cold_miss_enters_python_at_most_twice(tmp_path: Path) -> None:
    def double(x: int) -> int:
        return 2 * x

    def add(x: int, *, y: int = 1) -> int:
        return x + y

    memory_only = memokey.memoize(store=False, name="crossings.memory")(double)
    on_disk = memokey.memoize(store=f"disk://{tmp_path}", name="crossings.disk")(double)
    keywords = memokey.memoize(store=f"disk://{tmp_path}", name="crossings.keywords")(add)
    for f in (memory_only, on_disk, keywords):
        f(0)  # the store is opened at the first call
    # One argument per parameter: the key, the lookup, the flight, the call
    # and the memory tier all in C; a store adds the result's encoding.
    assert _python_entries(lambda: memory_only(1)) == []
    assert _python_entries(lambda: on_disk(1)) == ["_encode"]
    # Any other call is normalized through the signature first.
    assert _python_entries(lambda: keywords(2, y=3)) == ["__call__", "_encode"]
    assert keywords(2, y=3) == 5 and keywords.cache_info().computed == 2
