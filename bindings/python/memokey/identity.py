"""memokey.identity: what names a memoized function and its call in the key.

The key of a call is ``memokey.key(["memokey.memo", name, version, args],
namespace)`` (see ``memokey.memo``). This module computes the three parts
that come from the function and its arguments:

_function_name(fn)
    The default ``name``: ``"module:qualname"`` (``__mp_main__``, the main
    module of a multiprocessing child, is named ``__main__`` as in the
    parent, so both share entries).
code_hash(fn)
    The default ``version``: 16 hex digits of the key of the function's
    code -- bytecode, constants (nested functions' code included, the
    docstring left out: editing it keeps the entries), names, variable
    names, argument counts -- its defaults, keyword defaults and closure
    values, and the Python version (bytecode differs between versions). A
    default or closure value without a canonical form enters by its type
    (``_canonical_or_type``). A callable without ``__code__`` raises
    TypeError: give it ``version=``.
_Normalizer(fn, ignore)
    ``(args, kwargs)`` -> the tuple that is keyed: the arguments bound to
    the signature, defaults applied, in parameter order, without the
    ``ignore``'d parameters; so ``f(1)``, ``f(1, 2)`` (2 the default) and
    ``f(x=1)`` share a key. A plain positional call of a function with no
    ``*args``/``**kwargs`` and nothing ignored takes a short path that
    does not bind.
_is_atom(v)
    Whether v is None, a bool, int, float, str or bytes, or a tuple of
    those: a value nothing can mutate. ``@memoize`` caches keys by call
    shape only for a function whose defaults are all atoms (a mutable
    default could change under a cached shape).
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable, Iterable, Optional

from . import _core

__all__ = ["code_hash"]


def _function_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    if module == "__mp_main__":
        module = "__main__"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}:{qualname}"


def _canonical_or_type(value: Any) -> Any:
    """value when it has a canonical form, else a stable stand-in naming its type."""
    try:
        _core.dumps(value)
        return value
    except (TypeError, ValueError):
        t = type(value)
        return f"<unkeyable {t.__module__}:{t.__qualname__}>"


def _code_state(code: types.CodeType, doc: Optional[str]) -> tuple[Any, ...]:
    consts = list(code.co_consts)
    if doc is not None and consts and consts[0] == doc:
        consts[0] = None  # a docstring edit does not retire entries
    return (
        code.co_code,
        tuple(_const_state(c) for c in consts),
        code.co_names,
        code.co_varnames,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
    )


def _const_state(c: Any) -> Any:
    if isinstance(c, types.CodeType):
        return _code_state(c, None)
    if isinstance(c, tuple):
        return tuple(_const_state(x) for x in c)
    if isinstance(c, frozenset):
        return frozenset(_const_state(x) for x in c)
    return c


def code_hash(fn: Callable[..., Any]) -> str:
    """The default ``version`` of a memoized function: 16 hex digits over its
    code, constants, names, defaults and closure values (see the module doc)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        raise TypeError(
            f"memoize: {fn!r} has no __code__ to hash: pass version= to name its version"
        )
    closure = getattr(fn, "__closure__", None) or ()
    cells = []
    for cell in closure:
        try:
            cells.append(_canonical_or_type(cell.cell_contents))
        except ValueError:  # an empty cell
            cells.append("<empty cell>")
    state = [
        "memokey.memo.code",
        sys.version_info[0],
        sys.version_info[1],
        _code_state(code, getattr(fn, "__doc__", None)),
        _canonical_or_type(getattr(fn, "__defaults__", None)),
        _canonical_or_type(getattr(fn, "__kwdefaults__", None)),
        tuple(cells),
    ]
    return _core.hexkey(state)[:16]


def _is_atom(v: Any) -> bool:
    t = type(v)
    if v is None or t in (bool, int, float, str, bytes):
        return True
    if t is tuple:
        return all(_is_atom(x) for x in v)
    return False


# --- argument normalization --------------------------------------------------------


class _Normalizer:
    """Turns (args, kwargs) into the tuple that is keyed."""

    def __init__(self, fn: Callable[..., Any], ignore: Iterable[str]) -> None:
        self.fn = fn
        self.sig = inspect.signature(fn)
        params = list(self.sig.parameters.values())
        names = [p.name for p in params]
        ignore = list(ignore)
        unknown = [n for n in ignore if n not in names]
        if unknown:
            raise ValueError(f"memoize: ignore= names no parameter of {fn.__qualname__}: {unknown}")
        self.keep = tuple(n for n in names if n not in ignore)
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.simple = not ignore and all(p.kind in positional for p in params)
        self.n = len(params)
        self.has_var = any(
            p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            for p in params
        )

    def __call__(self, args: tuple[Any, ...], kwargs: Optional[dict[str, Any]]) -> tuple[Any, ...]:
        if self.simple and not kwargs:
            n = len(args)
            if n == self.n:
                return args
            defaults: Optional[tuple[Any, ...]] = getattr(self.fn, "__defaults__", None)
            if defaults and self.n - len(defaults) <= n < self.n:
                return args + defaults[n - self.n :]
        bound = self.sig.bind(*args, **(kwargs or {}))
        bound.apply_defaults()
        arguments = bound.arguments
        return tuple(arguments[name] for name in self.keep)
