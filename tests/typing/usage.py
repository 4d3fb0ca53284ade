"""The documented usage of memokey.memoize, checked by mypy and pyright
(tests/python/test_typing.py). Every line here must type-check."""

from __future__ import annotations

import asyncio
from typing import Callable

import memokey


@memokey.memoize
def area(w: int, h: int = 1) -> float:
    return float(w * h)


@memokey.memoize(store=False, ttl=60, namespace="app", verbose=1)
def greet(name: str, *, loud: bool = False) -> str:
    return name.upper() if loud else name


@memokey.memoize(store="memory://")
async def fetch(url: str) -> bytes:
    return url.encode()


class Model:
    @memokey.memoize(ignore=["self"])
    def predict(self, x: float) -> float:
        return x

    @staticmethod
    @memokey.memoize
    def scale(x: int) -> int:
        return 2 * x


def uses() -> None:
    a: float = area(2, 3)
    b: float = area(2, h=3)
    s: str = greet("x", loud=True)
    info: memokey.CacheInfo = area.cache_info()
    hits: int = info.hits
    area.cache_clear()
    deleted: bool = area.cache_delete(2, h=3)
    present: bool = area.cache_contains(2)
    key: str = area.key(2, 3)
    why: memokey.Explanation = area.explain(2, 3)
    answered: str | None = why.answered_by
    params: dict[str, object] = area.cache_parameters()
    original: Callable[[int, int], float] = area.__wrapped__
    typed: memokey.Memoized[[int, int], float] = area
    plain: Callable[[int, int], float] = area  # still a callable of the same type
    p: float = Model().predict(1.0)
    q: int = Model.scale(3)
    data: bytes = asyncio.run(fetch("u"))
    fetch.cache_clear()
    store = memokey.open_store("memory://")
    store.put(area.key(1), b"v")
    removed: int = store.clear()
    entries = store.entries()
    first_key: str = entries[0][0] if entries else ""
    print(a, b, s, hits, deleted, present, key, answered, params, original, typed, plain, p, q,
          data, removed, first_key)
