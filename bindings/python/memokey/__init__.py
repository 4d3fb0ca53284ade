"""Canonical bytes and 128-bit keys for Python values.

memokey turns a Python value -- the arguments of a function call, a
configuration, a dataset -- into *canonical bytes* (deterministic CBOR,
RFC 8949 §4.2.1, "memokey canonical form v1") and a 16-byte *key*
(XXH3-128 of those bytes). Equal values of the same type give the same bytes
and the same key in every process, on every machine, whatever the insertion
order of their dicts and sets or the value of PYTHONHASHSEED, and the same as
the C++ library (memokey::Canonical, memokey::KeyOf) gives for the same data.
Values that differ in value or in type get different bytes: 1, 1.0 and True
are three values, and so are a list and a tuple, a dict and an OrderedDict, a
class and its subclass.

Quickstart::

    >>> import memokey
    >>> memokey.hexkey({"b": 1, "a": [1, 2.5]})          # 32 hex characters
    '7fad9188baf1511b66e42e954bed50ce'
    >>> memokey.key({"a": [1, 2.5], "b": 1}) == memokey.key({"b": 1, "a": [1, 2.5]})
    True
    >>> memokey.dumps((1, 2)).hex()                       # tuple: tag 0x6D6B01
    'da006d6b01820102'
    >>> memokey.loads(memokey.dumps({"x": {1, 2}}))
    {'x': {1, 2}}

A memoizing cache needs nothing more than ``memokey.key(args)`` as its
dictionary or store key; ``namespace`` keeps the keys of different functions
or versions apart::

    k = memokey.key(((x, y), {"scale": 2}), namespace="myapp.resize:v3")

Functions
---------
dumps(obj) -> bytes
    The canonical bytes of obj.
loads(data, *, strict=True) -> object
    The data value back from canonical bytes (never imports or calls anything).
key(obj, namespace=None) -> bytes
    16 bytes: XXH3-128 over ["memokey", 1, namespace, canonical(obj)].
hexkey(obj, namespace=None) -> str
    The key as 32 lowercase hexadecimal characters.
register(cls, fn)
    Teach memokey the canonical state of a class you do not own.
memoize / @memoize(store=..., ...)
    Memoize a function over storage tiers (memory, disk, Redis) under the
    canonical key of its arguments; see memokey.memo.
open_store(url) -> Store
    A key/value store: memory://, disk:///path, redis://host:port/db,
    tiered:A|B|... (str keys; get, get_many, put with ttl, delete, contains,
    stats; entries, clear, prune; lease/release_lease: single flight across
    processes, see memokey.Lease). ``python -m memokey cache`` (also the
    ``memokey`` command) shows, lists, clears and prunes a store; see
    memokey.stores (also for the default store of memoize).
explain(a, b)
    The first path where the canonical forms of a and b differ, as text
    (a memokey.memo.Comparison; nothing is printed).
seal_envelope / open_envelope / load_secret / envelope_label / function_label
    The HMAC-signed value envelope that memoize stores values in, and the
    label in it that names the function a value belongs to.

Errors
------
CanonicalizationError (a TypeError) when a part of the value has no canonical
form; its message and ``path`` attribute say where, e.g.
``obj['cfg'].items[3]: a lambda ... has no stable identity``. memokey never
falls back to id() or to a repr with a memory address.
DecodeError (a ValueError) for malformed or non-canonical bytes, with the
byte ``offset``.

The encoding of every type is specified in docs/FORMAT.md; the documentation
of dumps() below summarizes it for Python.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Optional, TypeVar, final, overload

__all__ = [
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "CanonicalizationError",
    "DecodeError",
    "Tagged",
    "dumps",
    "hexkey",
    "key",
    "loads",
    "register",
    "unregister",
    # memoization (memokey.memo, memokey.stores, memokey.safe, memokey.explain)
    "CacheInfo",
    "Explanation",
    "SafeModeError",
    "Store",
    "default_cache_dir",
    "default_store",
    "default_store_url",
    "explain",
    "Lease",
    "envelope_label",
    "function_label",
    "load_secret",
    "memoize",
    "Memoized",
    "open_envelope",
    "open_store",
    "seal_envelope",
    "ServerStore",
    "set_default_store",
]

__version__ = "0.1.0"


class CanonicalizationError(TypeError):
    """A value (or a part of it) has no canonical form.

    ``str(error)`` is ``"<path>: <reason>"`` where the path starts at ``obj``
    (the argument) and names the failing part the way Python code would
    reach it: ``[i]`` for list, tuple and array items, ``[key!r]`` for dict
    values, ``.name`` for attributes, dataclass and namedtuple fields and
    object state, ``{elem!r}`` for set elements, ``<key ...>`` for a dict key
    itself. For example::

        obj['cfg'].items[3]: a lambda (m:<lambda>) has no stable identity: ...

    For the arguments of a memoized function the path starts at the
    parameter's name instead of ``obj``: ``x['hooks'][1]``. A path of more
    than 24 segments is shortened in the message (its first and last 8
    segments around ``...[N more]...``); ``path`` keeps it whole.

    Attributes:
        path: the path after ``obj`` (``"['cfg'].items[3]"``; ``""`` for
            the argument itself), or from the parameter's name on
            (``"x['hooks'][1]"``) for a memoized function's arguments.
        reason: what is wrong there.

    When the failure came from an exception raised by user code (a
    ``__memokey__`` method, a registered function, ``__reduce_ex__``, a
    ``tzinfo``), that exception is chained as ``__cause__``.
    """

    path: str
    reason: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path = ""
        self.reason = message


class DecodeError(ValueError):
    """Bytes that are not a memokey value: malformed CBOR, or (strict mode)
    CBOR that is not in canonical form.

    ``str(error)`` is ``"at byte <offset>: <reason>"``.

    Attributes:
        offset: the offset of the first offending byte in the input, or None
            when no single byte is to blame.
    """

    offset: Optional[int]

    def __init__(self, message: str, offset: Optional[int] = None) -> None:
        super().__init__(message)
        self.offset = offset


@final
class Tagged:
    """A CBOR tag that loads() does not turn into a Python object.

    loads() rebuilds only data types. Instances of classes, classes and
    functions named by the data, enum members, numpy arrays and scalars, and
    tags memokey does not know come back as ``Tagged(tag, value)``, where
    ``value`` is the tag's decoded content: loads() never imports a module
    or calls a function named by the data.

    dumps(Tagged(tag, value)) writes the tag over value, so a Tagged value
    re-encodes to the bytes it was read from (tags 2, 3, 258 and 0x6D6B02 are
    refused: int, set and frozenset are their forms).

    >>> memokey.loads(bytes.fromhex("d8 20 63 61 62 63".replace(" ", "")))
    Tagged(32, 'abc')
    """

    __slots__ = ("tag", "value")
    tag: int
    value: Any

    def __init__(self, tag: int, value: Any) -> None:
        if not isinstance(tag, int) or isinstance(tag, bool) or not 0 <= tag < 2**64:
            raise ValueError("Tagged: tag must be an int in 0 .. 2**64-1")
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Tagged is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Tagged is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tagged):
            return NotImplemented
        return self.tag == other.tag and self.value == other.value

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((Tagged, self.tag, self.value))

    def __repr__(self) -> str:
        tag = f"{self.tag:#x}" if self.tag >= 0x10000 else str(self.tag)
        return f"Tagged({tag}, {self.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tagged, (self.tag, self.value))


from . import _core  # noqa: E402

_core._bind(Tagged, DecodeError, CanonicalizationError)

from ._core import hexkey, key  # noqa: E402

FORMAT_VERSION: Final[int] = _core.FORMAT_VERSION
"""The canonical form's version (part of every key's frame)."""

MAX_DEPTH: Final[int] = _core.MAX_DEPTH
"""Deepest nesting of CBOR arrays, maps and tags that dumps writes and loads reads."""

_dumps = _core.dumps
_loads = _core.loads


def dumps(obj: object) -> bytes:
    """Return the canonical bytes of *obj* (memokey canonical form v1).

    The bytes are one deterministic CBOR data item (RFC 8949 §4.2.1: shortest
    heads, definite lengths, map entries sorted by their encoded keys, floats
    at the shortest width that holds them exactly, every NaN as f97e00,
    -0.0 kept). docs/FORMAT.md specifies every row; in Python terms:

    =============================  =============================================
    value                          encoding
    =============================  =============================================
    None, bool                     null, false/true
    int (any size)                 integer; tag 2/3 bignum beyond 64 bits
    float                          float (1.0 is not 1, 0.0 is not -0.0)
    str                            text (a lone surrogate is an error)
    bytes, memoryview              byte string (memoryview: content, C order)
    list                           array
    tuple                          tag 0x6D6B01 over an array
    dict (any key types)           map sorted by encoded keys
    set / frozenset                tag 258 / tag 0x6D6B02 over a sorted array
    OrderedDict                    tag 0x6D6B03 [k1, v1, ...] in order
    complex                        tag 0x6D6B06 [real, imag]
    range / slice                  tag 0x6D6B0B / 0x6D6B0C [start, stop, step]
    datetime.date                  tag 1004 "YYYY-MM-DD"
    datetime.datetime              tag 0x6D6B07 [year, month, day, hour, minute,
                                   second, microsecond, fold, utcoffset]
    datetime.time                  tag 0x6D6B08 [hour, minute, second,
                                   microsecond, fold, utcoffset]
    datetime.timedelta             tag 0x6D6B09 [days, seconds, microseconds]
    Decimal                        tag 4 [exponent, mantissa]; NaN, sNaN,
                                   ±Infinity and -0: tag 0x6D6B0A str(d)
    Fraction / UUID                tag 30 [num, den] / tag 37 16 bytes
    Enum member                    tag 0x6D6B0D [class id, member name]
    dataclass, namedtuple          tag 0x6D6B04 [class id, 0x6D6B03[field,
                                   value, ...]]
    numpy arrays                   tag 40 [shape, typed array] (int, uint,
                                   float), tag 40 [shape, [elements]] (object),
                                   tag 0x6D6B0E [dtype, shape, data] (others)
    numpy scalars                  tag 0x6D6B0F [dtype, little-endian bytes]
    classes, functions             tag 0x6D6B05 "module:qualname"
    Ellipsis, NotImplemented       tag 0x6D6B05 "builtins:Ellipsis", ...
    memokey.Tagged(tag, value)     the tag over value
    =============================  =============================================

    ``utcoffset`` is the offset in whole microseconds, or null for a naive
    value; a tzinfo enters only through its offset at that value.

    Records: a dataclass contributes the fields of ``dataclasses.fields()``
    with ``compare=True``, in definition order; a namedtuple its ``_fields``
    (plus, like a builtin subclass below, a third element for a non-empty
    instance ``__dict__``). An Enum member is its name; an alias is its
    canonical member; a Flag value that is no single member is its value.

    numpy: arrays are written in C order and little-endian whatever their
    memory layout and byte order, so C-ordered, Fortran-ordered, strided and
    big-endian arrays with equal values (and equal dtype and shape) give the
    same bytes. The data of float arrays is their raw bytes (NaN payloads and
    -0.0 as stored). The dtype text is ``dtype.str`` made little-endian
    (``"<f8"``, ``"|b1"``, ``"<M8[ns]"``, ``"<U5"``); a structured dtype is
    first packed -- its fields in order, names kept, offsets, padding and
    titles dropped -- and written as ``str(packed.descr)``, e.g.
    ``"[('a', '<i2'), ('b', '<f8')]"``, so padding bytes never enter. Long
    double dtypes (platform-dependent padding) and structured dtypes with
    object fields are errors. numpy scalars are never equal to Python
    numbers here: ``np.float64(1.5)`` and ``1.5`` differ.

    A *class id* is the text ``"module:qualname"`` of a class, checked to
    lead back to the class: classes and functions defined inside functions
    (``<locals>``), lambdas, and objects whose name does not lead back to
    them have no stable identity and are an error.

    Instances of other classes are tag 0x6D6B04 ``[class id, state]``; the
    state is, in this order of precedence:

    1. ``fn(obj)`` when ``memokey.register(cls, fn)`` registered cls or one
       of its bases;
    2. ``obj.__memokey__()`` when the class defines that method;
    3. for subclasses of dict, list, tuple, set, frozenset, str, bytes, int,
       float, OrderedDict and numpy.ndarray (Counter, ...): the value encoded
       as its base, plus a third element, a map of the instance ``__dict__``
       and set ``__slots__``, when that is not empty. defaultdict (and its
       subclasses): ``[default_factory, map]``;
    4. PurePath and subclasses: ``str(path)`` (the pathlib classes keep the
       ids ``"pathlib:PurePosixPath"``, ``"pathlib:PosixPath"``, ...);
    5. otherwise the pickle protocol: ``rv = obj.__reduce_ex__(4)``. A str
       rv names a module-level singleton: tag 0x6D6B05
       ``"module:name"``. A tuple ``(callable, args, state, listitems,
       dictitems, setstate)`` becomes the ordered map (tag 0x6D6B03) of the
       entries below, in this order, each present only when it applies:

       - ``"call"``: callable, and ``"args"``: args (a tuple) -- unless the
         callable is ``copyreg.__newobj__`` with ``args[0] is type(obj)``:
         then only ``"args"``: ``args[1:]``, when not empty (and for
         ``copyreg.__newobj_ex__``: ``"args"`` and ``"kwargs"``, each when
         not empty);
       - ``"state"``: state, when not None (an instance ``__dict__`` is a map,
         so it is sorted);
       - ``"listitems"``: the list items as an array, when not None;
       - ``"dictitems"``: the dict items as a map, when not None;
       - ``"setstate"``: the state setter, when not None.

       A plain object ``P(x=1)`` is thus
       ``0x6D6B04["mod:P", 0x6D6B03["state", {"x": 1}]]``.
       An object whose reduction fails (locks, files, generators, modules)
       is an error.

    Map keys and set elements may be of any supported type; two dict keys
    that encode identically (float('nan') twice) are an error. Nesting deeper
    than MAX_DEPTH (512) levels of CBOR arrays, maps and tags and any cycle
    are errors. Shared parts are written each time they occur.

    Raises:
        CanonicalizationError: a part of obj has no canonical form; the
            message names its path (``obj['cfg'].items[3]: ...``).
    """
    return _dumps(obj)


def loads(data: bytes | bytearray | memoryview, *, strict: bool = True) -> Any:
    """Return the value whose canonical bytes are *data*.

    loads() rebuilds *data types* only: None, bool, int, float, str, bytes,
    bytearray, list, dict, tuple, set, frozenset, OrderedDict, complex, date,
    datetime, time, timedelta, Decimal, Fraction, UUID, range and slice.
    Everything else -- instances of other classes, classes and functions
    named by the data, enum members, numpy arrays and scalars, unknown tags
    -- comes back as ``Tagged(tag, content)``: loads() never imports a module
    or calls anything the data names, so it is safe on untrusted input. An
    aware datetime or time gets a ``datetime.timezone`` with the recorded
    offset (its original tzinfo is not recorded).

    With ``strict=True`` (the default) *data* must be exactly what dumps()
    writes: any other encoding of the same value -- a long head, an
    unsorted map, a float wider than needed, a Fraction not in lowest terms
    -- is rejected, so ``dumps(loads(data)) == data`` for every accepted
    input. With ``strict=False`` any well-formed CBOR is accepted and
    canonicalized first.

    Raises:
        DecodeError: (a ValueError) malformed input, input not in canonical
            form (strict), or a value Python cannot hold (a map whose keys are
            equal in Python, such as 1 and 1.0; an array as a map key). Its
            message starts with ``at byte <offset>:`` and ``offset`` holds
            the offset.
    """
    return _loads(data, strict=strict)


_C = TypeVar("_C", bound=type)
_F = TypeVar("_F", bound=Callable[[Any], Any])


@overload
def register(cls: type, fn: None = None) -> Callable[[_F], _F]: ...
@overload
def register(cls: type, fn: _F) -> _F: ...
def register(cls: type, fn: Optional[_F] = None) -> Any:
    """Encode instances of *cls* (and its subclasses) as ``[class id, fn(obj)]``.

    *fn* returns any value memokey can encode (typically a tuple or dict of
    the fields that define the object); it is called for every instance
    met. The class id is that of the instance's own class, so a subclass
    never collides with its base. Registration takes precedence over
    ``__memokey__`` and every built-in rule except the fixed forms of None,
    bool, int, float, str, bytes, tuple, list, dict, set and frozenset (which
    cannot be registered). Use it as a call or as a decorator::

        memokey.register(Point, lambda p: (p.x, p.y))

        @memokey.register(Polygon)
        def _polygon_state(p):
            return list(p.points)

    The most specific registered class in ``type(obj).__mro__`` wins.
    """
    if fn is None:

        def decorator(f: _F) -> _F:
            _core._register(cls, f)
            return f

        return decorator
    _core._register(cls, fn)
    return fn


def unregister(cls: type) -> None:
    """Forget what register() said about *cls* (no error if nothing)."""
    _core._register(cls, None)


# Memoization over stores (memokey.memo), the stores (memokey.stores),
# safe results (memokey.safe), explain (memokey.explain); the envelope bindings.
from . import memo  # noqa: E402
from .compare import Explanation, explain  # noqa: E402
from .memo import CacheInfo, Memoized, memoize  # noqa: E402
from .safe import SafeModeError  # noqa: E402
from .stores import (  # noqa: E402
    Lease,
    ServerStore,
    Store,
    default_cache_dir,
    default_store,
    default_store_url,
    open_store,
    set_default_store,
)
from ._core import envelope_label  # noqa: E402
from ._core import function_label  # noqa: E402
from ._core import load_secret  # noqa: E402
from ._core import open_envelope  # noqa: E402
from ._core import seal as seal_envelope  # noqa: E402

CODEC_RAW: Final[int] = _core.CODEC_RAW
CODEC_CBOR: Final[int] = _core.CODEC_CBOR
CODEC_PICKLE5: Final[int] = _core.CODEC_PICKLE5
