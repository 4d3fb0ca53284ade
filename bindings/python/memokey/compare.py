"""memokey.compare: why two values have different keys, and why a call missed.

explain(a, b)
    Where the canonical forms of *a* and *b* first differ, as a
    :class:`Comparison`: a ``str`` such as ``obj['cfg'].steps[2]: int 3 vs
    float 3.0`` (or ``same canonical form (key ...)``) with ``.same``,
    ``.path`` and ``.detail``. Both values are encoded with
    ``memokey.dumps``, decoded back leniently (``loads(strict=False)``:
    objects come back as their recorded class and state) and walked in
    parallel, in canonical order (``_diff``; ``_diff_mapping`` for dicts
    and the attributes of objects), so the path is the first difference of
    the keys -- the first one a reader of the bytes would meet -- written
    the way Python code reaches it: ``[i]`` for items, ``['k']`` for dict
    entries, ``.name`` for attributes. Nothing is printed.
Explanation
    What ``f.explain(*args)`` of a memoized function returns (made by
    ``memokey.memo``): the call's key, the tier that would answer it
    (None: a miss), and one row per tier -- memory first -- with its
    status ("hit", "not present", "expired", "MAC rejected", "decode
    failed" or "error") and detail. ``str()`` of it is a readable report.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from . import _core
from .safe import _TAG_OBJECT

__all__ = ["Comparison", "Explanation", "explain"]


@dataclasses.dataclass(frozen=True)
class Explanation:
    """What f.explain(*args) found: ``answered_by`` is the tier that would
    answer (None: a miss), ``tiers`` one (tier, status, detail) row per tier,
    memory first. status: "hit", "not present", "expired", "MAC rejected",
    "decode failed" or "error"."""

    function: str
    key: str
    answered_by: Optional[str]
    tiers: list[tuple[str, str, str]]

    def __str__(self) -> str:
        head = f"{self.function} key {self.key}: "
        head += f"hit in {self.answered_by}" if self.answered_by else "miss"
        lines = [head]
        for tier, status, detail in self.tiers:
            lines.append(f"  {tier}: {status}" + (f" ({detail})" if detail else ""))
        return "\n".join(lines)


def _tname(v: Any) -> str:
    from . import Tagged

    if isinstance(v, Tagged):
        return f"tag {v.tag:#x}" if v.tag >= 0x10000 else f"tag {v.tag}"
    return type(v).__name__


def _short(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


_TAG_GLOBAL = 0x6D6B05  # a class or function, by name


def _diff(a: Any, b: Any, path: str, depth: int = 0) -> Optional[tuple[str, str]]:
    from collections import OrderedDict

    from . import Tagged

    if depth > 600:
        return path, "nesting too deep to compare"
    da, db = _core.dumps(a), _core.dumps(b)
    if da == db:
        return None
    if type(a) is not type(b) or (isinstance(a, Tagged) and a.tag != b.tag):
        return path, f"{_tname(a)} {_short(a)} vs {_tname(b)} {_short(b)}"
    if isinstance(a, Tagged):
        if a.tag == _TAG_OBJECT and isinstance(a.value, list) and isinstance(b.value, list) \
                and len(a.value) >= 2 and len(b.value) >= 2:
            if a.value[0] != b.value[0]:
                return path, f"class {a.value[0]} vs class {b.value[0]}"
            sa, sb = a.value[1], b.value[1]
            if isinstance(sa, OrderedDict) and isinstance(sb, OrderedDict) and "state" in sa \
                    and "state" in sb and isinstance(sa["state"], dict) and isinstance(sb["state"], dict):
                sa, sb = sa["state"], sb["state"]
            if isinstance(sa, dict) and isinstance(sb, dict) \
                    and all(isinstance(k, str) for k in list(sa) + list(sb)):
                return _diff_mapping(sa, sb, path, depth, attrs=True)
            return _diff(sa, sb, path, depth + 1)
        if a.tag == _TAG_GLOBAL:
            return path, f"{a.value} vs {b.value}"
        return _diff(a.value, b.value, f"{path}<{_tname(a)}>", depth + 1)
    if isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _diff(x, y, f"{path}[{i}]", depth + 1)
            if found:
                return found
        return path, f"length {len(a)} vs {len(b)}"
    if isinstance(a, dict):
        return _diff_mapping(a, b, path, depth, attrs=False)
    if isinstance(a, (set, frozenset)):
        ka = {_core.dumps(x): x for x in a}
        kb = {_core.dumps(x): x for x in b}
        only_a = [ka[k] for k in sorted(set(ka) - set(kb))]
        only_b = [kb[k] for k in sorted(set(kb) - set(ka))]
        parts = []
        if only_a:
            parts.append(f"only in a: {_short(only_a[0])}")
        if only_b:
            parts.append(f"only in b: {_short(only_b[0])}")
        return path, "; ".join(parts)
    return path, f"{_short(a)} vs {_short(b)}"


def _diff_mapping(a: dict[Any, Any], b: dict[Any, Any], path: str, depth: int, attrs: bool) -> Optional[tuple[str, str]]:
    ka = {_core.dumps(k): k for k in a}
    kb = {_core.dumps(k): k for k in b}
    for enc in sorted(set(ka) | set(kb)):
        sub = f"{path}.{ka.get(enc, kb.get(enc))}" if attrs else f"{path}[{ka.get(enc, kb.get(enc))!r}]"
        if enc not in kb:
            return sub, f"only in a (= {_short(a[ka[enc]])})"
        if enc not in ka:
            return sub, f"only in b (= {_short(b[kb[enc]])})"
        found = _diff(a[ka[enc]], b[kb[enc]], sub, depth + 1)
        if found:
            return found
    return path, "entries in a different order"


class Comparison(str):
    """What :func:`memokey.explain` returns: the explanation as text.

    A ``str`` (compare it, search it, print it) whose ``repr`` is the text
    itself, so an interactive session shows it once, unquoted. ``same``:
    whether the two values have the same canonical form (then the text is
    ``same canonical form (key ...)``); ``path``: the first path where they
    differ (None when same), e.g. ``obj['cfg'].steps[2]``; ``detail``: what
    differs there, e.g. ``int 3 vs float 3.0``."""

    same: bool
    path: Optional[str]
    detail: str

    def __new__(cls, text: str, same: bool, path: Optional[str], detail: str) -> "Comparison":
        self = super().__new__(cls, text)
        self.same = same
        self.path = path
        self.detail = detail
        return self

    def __repr__(self) -> str:
        return str.__str__(self)


def explain(a: Any, b: Any) -> Comparison:
    """Where the canonical forms of *a* and *b* first differ (nothing printed).

    Both values are encoded with ``memokey.dumps``, decoded back leniently
    (``loads(strict=False)``: objects come back as their recorded class and
    state) and walked in parallel, in canonical order; the first differing
    path is reported the way Python code would reach it. Returns a
    :class:`Comparison`: text such as ``obj['cfg'].steps[2]: int 3 vs float
    3.0``, or ``same canonical form (key ...)`` (then ``.same`` is True)
    when the two values have the same key.
    """
    da, db = _core.dumps(a), _core.dumps(b)
    if da == db:
        return Comparison(f"same canonical form (key {_core.hexkey(a)})", True, None, "")
    va = _core.loads(da, strict=False)
    vb = _core.loads(db, strict=False)
    path, detail = _diff(va, vb, "obj") or ("obj", "canonical bytes differ")
    return Comparison(f"{path}: {detail}", False, path, detail)
