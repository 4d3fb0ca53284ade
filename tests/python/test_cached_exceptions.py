"""A cached exception re-raised on each hit carries only its own frames (issue 14, item 1)."""

from __future__ import annotations

import traceback

import memokey


class Unusual(Exception):
    """An exception whose constructor does not take its args back: copy fails."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def test_traceback_does_not_grow_with_hits() -> None:
    @memokey.memoize(store=False, cache_exceptions=True)
    def boom(x: int) -> None:
        raise ValueError(x)

    lengths = []
    first = None
    for i in range(200):
        try:
            boom(1)
        except ValueError as e:
            if first is None:
                first = e
                first_frames = len(traceback.extract_tb(e.__traceback__))
            lengths.append(len(traceback.extract_tb(e.__traceback__)))
            assert e.args == (1,)
    # Every hit raises with the same, short traceback (the first call's
    # includes the function's own frame).
    assert len(set(lengths[1:])) == 1, lengths[:10]
    assert lengths[1] <= lengths[0]
    # The object the first caller got is left as it was.
    assert first is not None
    assert len(traceback.extract_tb(first.__traceback__)) == first_frames
    assert boom.cache_info().computed == 1  # every later call was the cached exception


def test_uncopyable_exception_still_raises_without_growing() -> None:
    @memokey.memoize(store=False, cache_exceptions=True)
    def odd(x: int) -> None:
        raise Unusual(x, 2)

    lengths = []
    for _ in range(50):
        try:
            odd(3)
        except Unusual as e:
            lengths.append(len(traceback.extract_tb(e.__traceback__)))
            assert str(e) == "3/2"
    assert len(set(lengths[1:])) == 1, lengths[:10]
