"""Issue 13's drifts between the C++ and the Python memoizers, pinned.

Each scenario runs through C++ ``memokey::memoize`` (the tool
tests/cpp/memo_drift.cc: $MEMOKEY_MEMO_DRIFT, else
build/release/tests/cpp/memo_drift) and through ``@memokey.memoize`` here, and
both must end the same way: the same results, the same number of executions
of the function, the same count of rejected values, and store failures
counted (not raised) the same way:

* tampered_first_tier: a tampered value in the first tier of a tiered store
  is counted as rejected and the next tier's value answers (no computation),
  and repairs the first tier (the third call rejects nothing more).
* unreachable_store: a store nobody answers is counted in the function's
  store-error counter (C++ MemoStats::store_errors, Python
  cache_info().errors) -- lookup, lease and write of each call -- and never
  reaches the caller.
* lease_value / lease_value_tampered: the value another holder publishes
  while we wait for its lease is verified like any stored value: a good one
  is returned without computing; a tampered one is rejected and computed.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import memokey

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> str:
    path = os.environ.get("MEMOKEY_MEMO_DRIFT") or str(
        ROOT / "build" / "release" / "tests" / "cpp" / "memo_drift")
    if not os.access(path, os.X_OK):
        pytest.fail(f"memo_drift not built at {path} (cmake --build build/release --target "
                    "memo_drift; or set MEMOKEY_MEMO_DRIFT)")
    return path


@pytest.fixture(scope="module")
def cpp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = subprocess.run([_tool(), str(tmp_path_factory.mktemp("drift-cpp"))],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def _outcome(results: list[int], calls: int, f: Any) -> dict[str, Any]:
    info = f.cache_info()
    return {"results": results, "calls": calls, "rejected": info.rejected,
            "store_errors": info.errors}


def _tampered(sealed: bytes) -> bytes:
    b = bytearray(sealed)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


def test_a_tampered_first_tier_is_rejected_and_the_next_tier_answers(
        cpp: dict[str, Any], tmp_path: Path) -> None:
    calls = 0

    def body(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 10

    f = memokey.memoize(store=f"tiered:disk://{tmp_path}/t0|disk://{tmp_path}/t1", memory=0,
                        name="drift.tier")(body)
    results = [f(1)]
    first = memokey.open_store(f"disk://{tmp_path}/t0")
    key = f.key(1)
    sealed = first.get(key)
    assert sealed is not None
    first.put(key, _tampered(sealed))
    results += [f(1), f(1)]
    python = _outcome(results, calls, f)
    assert python == cpp["tampered_first_tier"]
    assert python["rejected"] == 1 and python["calls"] == 1


def test_an_unreachable_store_is_counted_the_same_way(cpp: dict[str, Any]) -> None:
    calls = 0

    def body(x: int) -> int:
        nonlocal calls
        calls += 1
        return x - 1

    f = memokey.memoize(store="redis://127.0.0.1:1?connect_timeout_ms=100", memory=0,
                        name="drift.down")(body)
    python = _outcome([f(5), f(5)], calls, f)
    assert python == cpp["unreachable_store"]
    assert python["store_errors"] > 0 and python["calls"] == 2


@pytest.mark.parametrize("tamper", [False, True], ids=["good", "tampered"])
def test_a_value_that_comes_with_a_lease_is_verified(
        cpp: dict[str, Any], tmp_path: Path, tamper: bool) -> None:
    url = f"disk://{tmp_path}/lease"
    donor_store = memokey.open_store("memory://")
    donor = memokey.memoize(store=donor_store, memory=0, name="drift.lease",
                            version="drift")(lambda x: x * 100)
    donor(7)
    key = donor.key(7)
    sealed = donor_store.get(key)
    assert sealed is not None
    if tamper:
        sealed = _tampered(sealed)
    holder = memokey.open_store(url)
    lease = holder.lease(key, 60.0, 0.0, True)
    assert lease.state == "granted"
    calls = 0

    def body(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 10

    f = memokey.memoize(store=url, memory=0, name="drift.lease", version="drift")(body)
    result: list[int] = []
    caller = threading.Thread(target=lambda: result.append(f(7)))
    caller.start()
    time.sleep(0.2)  # the caller is (most likely) waiting for the lease
    holder.put(key, sealed)
    assert lease.token is not None
    holder.release_lease(key, lease.token)
    caller.join()
    python = _outcome(result, calls, f)
    assert python == cpp["lease_value_tampered" if tamper else "lease_value"]
    assert python["calls"] == (1 if tamper else 0)
