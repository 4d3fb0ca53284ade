"""Uses of memokey.memoize that a type checker must reject: each line marked
`# expect-error` must get an error from mypy and from pyright, and no other
line may (tests/python/test_typing.py). If memoize's result became Any, these
would pass and the test would fail."""

from __future__ import annotations

import memokey


@memokey.memoize
def area(w: int, h: int = 1) -> float:
    return float(w * h)


@memokey.memoize(store=False)
def greet(name: str) -> str:
    return name


def misuses() -> None:
    area("2", 3)  # expect-error
    area(1, 2, 3)  # expect-error
    greet(name=1)  # expect-error
    area.cache_infoo()  # expect-error
    area.cache_delete("x")  # expect-error
    area.cache_contains(w="x")  # expect-error
    s: str = area(1)  # expect-error
    n: int = area.key(1)  # expect-error
    b: str = area.cache_contains(1)  # expect-error
    memokey.memoize(store=False, verbose="loud")  # expect-error
    memokey.open_store("memory://").get(b"k")  # expect-error
    print(s, n, b)
