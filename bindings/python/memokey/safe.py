"""memokey.safe: the results of ``@memoize(safe=True)``: data only.

A safe result is stored as canonical CBOR (``memokey.dumps``), never as a
pickle, and read back by ``memokey.loads``, which builds data types only.
What loads returns as ``memokey.Tagged`` is rebuilt here for two kinds of
data, never by running code the stored bytes name:

* numpy arrays and scalars (tags 40 + RFC 8746, 0x6D6B0E, 0x6D6B0F) whose
  dtype holds no Python objects: ``numpy.frombuffer`` over the stored
  bytes (numpy is imported only to rebuild one);
* dataclass instances (tag 0x6D6B04 ``[class id, {field: value}]``): the
  class is looked up by module and qualified name in modules already
  imported (nothing is imported), in their ``__dict__`` (no
  ``__getattr__`` hook runs), and used only if it is a dataclass whose
  compared fields are exactly the stored ones; the instance is made with
  ``object.__new__`` and its fields set directly (no ``__init__``,
  ``__post_init__`` or ``__setattr__`` of the class runs).

Anything else (another class, a function, an object array) is refused:
:class:`SafeModeError` when storing (``@memoize`` raises it; nothing is
cached), a failed decode -- a miss, counted in
``cache_info().decode_failed`` -- when reading.

SafeModeError
    The error of a result that is not a data value (a TypeError).
_safe_loads(payload)
    The decoder of safe results, which ``memokey.memo`` hands to the C++
    wrapper: ``memokey.loads``, then ``_rebuild`` when the payload holds a
    tag to rebuild (``_REBUILT_TAG_HEADS``: most results hold none and
    are returned as loads built them).
_rebuild(value, path)
    value with its rebuilt parts in place; raises ``_NotData`` (a
    ValueError naming the path of the part and why) for any other tagged
    part.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import types
from typing import Any

from . import _core

__all__ = ["SafeModeError"]


class SafeModeError(TypeError):
    """memoize(safe=True) met a result that is not a data value.

    Safe mode stores canonical CBOR only, and only values that come back as
    themselves: what ``memokey.loads`` rebuilds (None, bool, int, float, str,
    bytes, list, tuple, dict, set, frozenset, OrderedDict, complex, dates
    and times, Decimal, Fraction, UUID, range, slice), numpy arrays and
    scalars whose dtype holds no Python objects, and dataclass instances
    whose fields are such values (all fields compared; the class is found
    by module and qualified name among imported modules, and only a
    dataclass is used -- no code named by the stored bytes runs). An
    instance of another class, a class, a function or an object array
    raises this; the message names the path of the offending part.
    """


_TAG_NDARRAY = 40
_TAG_ARRAY = 0x6D6B0E
_TAG_NPSCALAR = 0x6D6B0F
_TAG_OBJECT = 0x6D6B04  # an instance: [class id, state] (memokey.explain reads it too)
_TYPED_ARRAY_DTYPES = {
    64: "|u1", 69: "<u2", 70: "<u4", 71: "<u8", 72: "|i1", 77: "<i2", 78: "<i4", 79: "<i8",
    84: "<f2", 85: "<f4", 86: "<f8",
}
# Byte strings that appear in a payload holding a value _rebuild must visit
# (the heads of tags 40, 0x6D6B04, 0x6D6B0E, 0x6D6B0F); a payload without
# any -- most results -- is returned by memokey.loads as it is.
_REBUILT_TAG_HEADS = (b"\xd8\x28", b"\xda\x00\x6d\x6b\x04", b"\xda\x00\x6d\x6b\x0e",
                      b"\xda\x00\x6d\x6b\x0f")


class _NotData(ValueError):
    """A decoded safe-mode value that _rebuild refuses (path, why)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def _safe_dtype(text: Any, path: str) -> Any:
    import numpy as np

    if not isinstance(text, str):
        raise _NotData(path, f"a numpy dtype must be text, not {type(text).__name__}")
    try:
        # A structured dtype is written as its descr list (literals only).
        spec = ast.literal_eval(text) if text.startswith("[") else text
        dtype = np.dtype(spec)
    except (ValueError, TypeError, SyntaxError, MemoryError) as e:
        raise _NotData(path, f"not a numpy dtype: {text!r} ({e})") from None
    if dtype.hasobject:
        raise _NotData(path, f"numpy dtype {text} holds Python objects")
    return dtype


def _safe_array(dtype: Any, shape: Any, data: Any, path: str) -> Any:
    import numpy as np

    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise _NotData(path, "a numpy array's shape must be a list of sizes")
    if not isinstance(data, bytes):
        raise _NotData(path, "a numpy array's data must be bytes (object arrays are not data)")
    try:
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    except ValueError as e:
        raise _NotData(path, f"numpy array data does not fit its dtype and shape ({e})") from None


def _safe_class(class_id: Any, path: str) -> type:
    if not isinstance(class_id, str) or ":" not in class_id:
        raise _NotData(path, f"not a class id: {class_id!r}")
    module_name, _, qualname = class_id.partition(":")
    target: Any = sys.modules.get(module_name)
    if target is None:
        raise _NotData(path, f"{class_id}: module {module_name} is not imported (nothing is "
                             "imported to rebuild a safe result)")
    for part in qualname.split("."):
        namespace = getattr(target, "__dict__", None)
        target = namespace.get(part) if isinstance(namespace, (dict, types.MappingProxyType)) else None
        if target is None:
            raise _NotData(path, f"{class_id} is not defined")
    if not (isinstance(target, type) and "__dataclass_fields__" in target.__dict__):
        raise _NotData(path, f"{class_id} is not a dataclass (only dataclasses are rebuilt)")
    return target


def _safe_dataclass(class_id: Any, state: Any, path: str, depth: int) -> Any:
    cls = _safe_class(class_id, path)
    if not isinstance(state, dict):
        raise _NotData(path, f"{class_id}: the state is not a field map")
    fields = [f for f in dataclasses.fields(cls) if f.compare]
    names = [f.name for f in fields]
    if list(state) != names or len(fields) != len(dataclasses.fields(cls)):
        raise _NotData(path, f"{class_id}: the stored fields {list(state)} are not the class's "
                             f"fields {[f.name for f in dataclasses.fields(cls)]}")
    obj: Any = object.__new__(cls)
    slots = "__dict__" not in dir(cls)
    for name in names:
        value = _rebuild(state[name], f"{path}.{name}", depth + 1)
        if slots:
            if not isinstance(inspect.getattr_static(cls, name, None), types.MemberDescriptorType):
                raise _NotData(path, f"{class_id}.{name} is not a plain slot")
            object.__setattr__(obj, name, value)
        else:
            obj.__dict__[name] = value
    return obj


def _rebuild(value: Any, path: str, depth: int = 0) -> Any:
    """value (from memokey.loads) with its safe Tagged parts rebuilt; _NotData
    for any other Tagged part."""
    from . import Tagged

    if depth > _core.MAX_DEPTH:
        raise _NotData(path, "nested too deeply")
    t = type(value)
    if t is Tagged:
        tag, inner = value.tag, value.value
        if tag == _TAG_NDARRAY and isinstance(inner, list) and len(inner) == 2:
            shape, typed = inner
            if type(typed) is Tagged and typed.tag in _TYPED_ARRAY_DTYPES:
                return _safe_array(_safe_dtype(_TYPED_ARRAY_DTYPES[typed.tag], path), shape,
                                   typed.value, path)
            raise _NotData(path, "a numpy array of Python objects is not data")
        if tag == _TAG_ARRAY and isinstance(inner, list) and len(inner) == 3:
            return _safe_array(_safe_dtype(inner[0], path), inner[1], inner[2], path)
        if tag == _TAG_NPSCALAR and isinstance(inner, list) and len(inner) == 2:
            return _safe_array(_safe_dtype(inner[0], path), [1], inner[1], path)[0]
        if tag == _TAG_OBJECT and isinstance(inner, list) and len(inner) == 2:
            return _safe_dataclass(inner[0], inner[1], path, depth)
        raise _NotData(path, f"{value!r} is not data (an instance, class, function or object array)")
    if t is list:
        return [_rebuild(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(value)]
    if t is tuple:
        return tuple(_rebuild(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(value))
    if isinstance(value, dict):  # dict, OrderedDict
        return t((_rebuild(k, f"{path}<key {k!r}>", depth + 1), _rebuild(v, f"{path}[{k!r}]", depth + 1))
                 for k, v in value.items())
    if t is set or t is frozenset:
        return t(_rebuild(x, f"{path}{{{x!r}}}", depth + 1) for x in value)
    return value


def _safe_loads(payload: bytes) -> Any:
    """The decoder of safe=True results (the C wrapper calls it for CBOR
    payloads): memokey.loads, then _rebuild; _NotData (a ValueError) makes
    the stored value a failed decode."""
    value = _core.loads(payload)
    if any(head in payload for head in _REBUILT_TAG_HEADS):
        value = _rebuild(value, "result")
    return value
