"""The package surface: signatures, docs, typing files, threads and the GIL."""

from __future__ import annotations

import importlib.resources
import inspect
import threading
import time

import pytest

import memokey


def test_public_names():
    for name in memokey.__all__:
        assert hasattr(memokey, name), name
    assert memokey.FORMAT_VERSION == 1
    assert memokey.MAX_DEPTH == 512


def test_quickstart():
    assert memokey.hexkey({"b": 1, "a": [1, 2.5]}) == "7fad9188baf1511b66e42e954bed50ce"
    k = memokey.key({"a": [1, 2.5], "b": 1})
    assert isinstance(k, bytes) and len(k) == 16
    assert k.hex() == memokey.hexkey({"b": 1, "a": [1, 2.5]})


def test_signatures_and_docs():
    assert str(inspect.signature(memokey.key)) == "(obj, /, namespace=None)"
    assert str(inspect.signature(memokey.hexkey)) == "(obj, /, namespace=None)"
    assert "strict" in str(inspect.signature(memokey.loads))
    for f in (memokey.dumps, memokey.loads, memokey.key, memokey.hexkey, memokey.register):
        assert f.__doc__ and len(f.__doc__) > 80
    assert "Quickstart" in memokey.__doc__
    assert "__reduce_ex__(4)" in memokey.dumps.__doc__  # the fallback is specified there


def test_typing_files_are_installed():
    files = importlib.resources.files("memokey")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_core.pyi").is_file()


def test_gil_is_released_while_hashing_large_buffers():
    big = bytes(512 * 1024 * 1024)  # hashing takes tens of milliseconds
    done = threading.Event()
    ticks = 0

    def worker():
        memokey.key(big)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.001)
    while not done.is_set():
        ticks += 1  # only runs while the worker does not hold the GIL
    t.join()
    assert ticks > 1000


def test_threads_agree():
    np = pytest.importorskip("numpy")
    arrays = [np.random.default_rng(i).standard_normal(300_000) for i in range(4)]
    docs = [{"i": i, "s": {str(j) for j in range(50)}} for i in range(4)]
    expected = [memokey.key(a) for a in arrays] + [memokey.key(d) for d in docs]
    results: list = [None] * 8
    errors: list = []

    def run(slot: int):
        try:
            for _ in range(20):
                got = [memokey.key(a) for a in arrays] + [memokey.key(d) for d in docs]
                if got != expected:
                    errors.append(slot)
            results[slot] = True
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(results)


def test_big_scratch_is_not_kept_and_small_keys_still_work():
    huge = {"k": bytes(16 * 1024 * 1024)}  # inside a map: buffered by the encoder
    k1 = memokey.key(huge)
    assert memokey.key({"a": 1}) == memokey.key({"a": 1})
    assert memokey.key(huge) == k1
    assert len(memokey.dumps(huge)) > 16 * 1024 * 1024
    assert memokey.dumps(1) == b"\x01"


def test_core_without_package_init_is_refused():
    # memokey/__init__.py binds the exception classes; _core is fully usable through it.
    assert memokey._core.dumps(1) == b"\x01"


def test_docstring_examples():
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(memokey, "memokey", globs={"memokey": memokey}):
        runner.run(test)
    assert runner.failures == 0
    assert runner.tries >= 5
