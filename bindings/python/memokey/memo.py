"""memokey.memoize: memoization over storage tiers, keyed by canonical arguments.

::

    import memokey

    @memokey.memoize                               # memory tier + disk tier in ~/.cache/memokey
    def simulate(params: dict, steps: int = 100) -> list[float]: ...

    @memokey.memoize(store="redis://cache:6379/0", ttl=3600, namespace="sim")
    def fetch(url: str) -> bytes: ...

    simulate({"a": 1}, 100)          # computed, stored
    simulate({"a": 1})               # same entry: defaults are applied before keying
    simulate.cache_info()            # CacheInfo(hits=1, misses=1, computed=1, ...)

Keys
----
The key of a call is ``memokey.key(["memokey.memo", name, version, args],
namespace)`` -- the same frame the C++ ``memokey::memoize`` uses, so a C++
and a Python function with the same ``name``/``version`` share entries when
their results are data (``safe=True``). Its parts:

* ``name``: ``"module:qualname"`` of the function (``__mp_main__`` is
  written ``__main__``, so multiprocessing workers agree with their parent),
  or ``name=``.
* ``version``: a hash of the function's code -- ``co_code``, ``co_consts``
  (nested code objects included, recursively; the docstring excluded),
  ``co_names``, ``co_varnames``, the argument counts, the defaults and
  keyword-only defaults, the values of closure variables at decoration time
  (by their canonical form when they have one), and the Python minor version
  -- so editing the function retires its old entries. Names a function uses
  but does not own (module globals, other functions it calls) are not
  hashed: change ``version=`` when their meaning changes. ``version=``
  (any str or int) replaces the code hash.
* ``args``: the call normalized through ``inspect.signature``: defaults
  applied, then one value per parameter in signature order -- ``*args`` as a
  tuple, ``**kwargs`` as a dict -- minus the parameters listed in
  ``ignore=``. So ``f(1, 2)``, ``f(1, b=2)`` and ``f(a=1, b=2)`` share one
  entry. The values enter by their canonical form (``memokey.dumps``): an
  argument with no canonical form raises ``CanonicalizationError``.

Methods: ``self`` (or ``cls``) is an ordinary first parameter, so it enters
the key by its canonical form -- its class and its state (``__memokey__``,
``memokey.register``, dataclass fields or ``__reduce_ex__``). Two equal
instances share entries; a mutated instance gets new ones. An instance with
no canonical form (a lock, an open file) makes every call raise: list
``"self"`` in ``ignore=`` to key on the other arguments only (then every
instance shares the entries). ``@classmethod``/``@staticmethod`` may be
stacked above or below ``@memoize``.

Tiers
-----
``memory``: a per-function LRU of the result *objects* (``memory=4096``
entries by default; 0 disables it, None is unbounded). A hit returns the
very object that was cached -- nothing is deserialized -- so mutating a
returned value mutates the cached one (the same aliasing as
``functools.lru_cache``). ``copy=True`` returns ``copy.deepcopy`` of it
instead.

``store``: a ``memokey.Store`` or its URL (``memory://``, ``disk:///path``,
``redis://host:port/db``, ``tiered:A|B|...``; see ``memokey.open_store``).
The default is a disk store in ``$XDG_CACHE_HOME/memokey`` (else
``~/.cache/memokey``, created 0700): results persist across processes, like
``joblib.Memory``. ``store=False``: the memory tier only. Lookups go tier by
tier, fastest first, and copy a hit into the faster tiers.

Values in a store are sealed in memokey's envelope: a format header, the
payload (zstd above ``compress_threshold``) and an HMAC-SHA256 over the key
and the payload. The payload is ``pickle`` protocol 5 by default, and it is
unpickled **only after the MAC verified**: a value that fails (planted,
altered, truncated, copied from another key, sealed with another secret) is
a miss -- counted in ``cache_info().rejected``, logged once on the
``"memokey"`` logger, recomputed and overwritten -- never unpickled. With
``safe=True`` the payload is canonical CBOR (``memokey.dumps``/``loads``):
no pickle at all, in either direction. Numpy arrays (no object dtype) and
dataclasses of data values are data too: they are rebuilt from their bytes
and fields without running code the stored bytes name (see
``SafeModeError``); a result that is not a data value (an instance of
another class, a function) raises ``SafeModeError``, and a stored value
that names anything else is a failed decode (a miss), never rebuilt.

The secret: ``secret=``, else ``$MEMOKEY_SECRET``, else the per-user key file
``$XDG_CONFIG_HOME/memokey/secret`` (``~/.config/memokey/secret``), created
on first use (mode 0600). Processes and machines that share a store must
share the secret (copy the file's content into ``MEMOKEY_SECRET``).

Failures of the store never fail the call. Whatever goes wrong -- a server
that cannot be reached (Redis, memokeyd), an I/O error, a damaged or full
disk, a store directory that cannot be created (no home directory,
``$XDG_CACHE_HOME`` below a regular file, a read-only file system) -- the
caller gets the function's own result, or its own exception: a failed
lookup is a miss, a failed write, lease or release is skipped, and a store
that cannot be opened leaves the function with its memory tier only. Each
failure counts in ``cache_info().errors`` and the first one is logged once
(a warning on the ``"memokey"`` logger naming the store, the error and what
to do). Entries a store found damaged (dropped, never served) are in
``cache_info().damaged``. A malformed URL is a programming error and raises
``ValueError`` at decoration. Strict stores -- a URL with ``?strict=1`` (on
any tier, ``disk://`` and ``memory://`` included), or
``memokey.open_store(url, strict=True)`` -- raise instead
(``OSError``/``ConnectionError``), from the call that met the failure.

Concurrency
-----------
Single flight in one process: concurrent callers of the same cold key --
threads, or asyncio tasks of one event loop -- run the function once; the
others wait for that result (an exception propagates to every waiter and
is not cached). A call that re-enters its own key on the same thread (or
task) computes directly instead of waiting for itself. Stores are
fork-safe; a forked child starts with no computation in flight.

Single flight across processes and machines (``lease=True``, the default):
the caller that runs a cold key in its process first takes the store's
*lease* on the key (``Store.lease``; the store key is ``f.key(...)``). It
then either

* gets the value -- it was stored meanwhile, or another process (machine)
  held the lease and stored it while this caller waited: the value is read
  and verified like any stored value (a value that fails the MAC is a
  counted rejection, and the caller computes); or
* is granted the lease: it computes, stores the result and releases the
  lease -- at once, also when the function raises, so that a waiting caller
  takes over without sitting out the lease; or
* waited ``lease_wait`` seconds (default: ``lease_ttl``) without the holder
  finishing (``cache_info().lease_timeouts``), or the store has no leases,
  or cannot be reached (counted in ``errors``): it computes anyway.

A lookup that failed (the store could not answer, or the stored value was
rejected or did not decode) computes at once, without a lease.

So N processes (8 processes x 4 threads in the tests) that call one cold
key compute it once, through a disk store (a ``flock`` the OS releases when
its holder dies, even by kill -9: a waiter takes over at once), Redis or
memokeyd (a lease of ``lease_ttl`` seconds, 60 by default: a holder that
dies blocks the key at most that long), ``memory://`` (threads of one
process) and ``tiered:`` stores. A lease is advisory: a function that runs
longer than ``lease_ttl`` may be computed twice (the lease ends, a waiter
takes it over) -- a duplicate computation, never a wrong value; give slow
functions a ``lease_ttl`` above their running time. Only misses take
leases: a hit (memory tier or store) costs what it did without them.

Stale-while-revalidate (``stale_while_revalidate=S``, with ``ttl=T``):
values are stored for T + S seconds. Every call that finds one older than
T (within the last S seconds of its life) returns it at once
(``cache_info().stale``, counted as hits), and the first such call starts
a *background refresh*: a daemon thread (for an ``async def`` function, a
task of the caller's event loop) that takes the store's lease on the key
without waiting (``wait=0``; another process holding it refreshes instead;
without leases, one refresh per process), calls the function and stores
the new value for another T + S seconds. One refresh per key runs at a
time in a process. A refresh that fails -- the function raises, or a
strict store does -- is counted in ``cache_info().refresh_errors`` and
logged once; the stale value stays and a later call tries again. It needs a store
that reports remaining TTLs (memory, disk, Redis, tiered of those); through
one that cannot tell (http://, memokeyd) values count as fresh until T + S,
then are recomputed. The memory tier keeps a value for T at most.

``async def`` functions are memoized too (the wrapper is a coroutine
function). Store I/O for them is done inline: microseconds for memory and
disk, one round trip for Redis (bounded by its ``timeout_ms``) -- except
waiting for another holder's lease, which runs in a worker thread, so the
event loop keeps running meanwhile.

Exceptions are not cached unless ``cache_exceptions=True`` (instances of
Exception only; they are re-raised on a hit, and stored with pickle -- or
kept in the memory tier only when ``safe=True``).

Attributes of a memoized function ``f`` (typed: ``memokey.Memoized[P, R]``):
``f.cache_info()`` (counters, per tier), ``f.cache_clear()``,
``f.cache_delete(*args, **kw)`` (the entry of that call, from every tier,
the memory tier included; True when it was there),
``f.cache_contains(*args, **kw)`` (whether that call would be answered
from a tier: nothing computed, nothing counted), ``f.key(*args, **kw)``
(the hex key, also the store key), ``f.explain(*args, **kw)`` (which tier
would answer, or why each missed: not present, expired, MAC rejected,
decode failed, error), ``f.cache_parameters()``, ``f.__wrapped__``.

``f.cache_clear()`` empties the memory tier and deletes ``f``'s entries
from every store tier that can list its entries -- memory, disk, Redis,
and those tiers of a tiered store -- whichever process wrote them. A
store key is a hash, so each value says whose it is: the envelope it is
sealed in carries a label, ``memokey.function_label(namespace, name)`` --
the function as its key frame names it: ``name`` (``"module:qualname"`` or
``name=``), preceded by ``namespace + "\\x1f"`` when there is a namespace
(a label past 255 bytes keeps its start and ends in a digest of the
whole). The label covers every version of the function (a ``version=`` or
code change leaves old entries that the next ``cache_clear`` removes too);
the C++ ``memokey::memoize`` writes the same label for the same name and
namespace. The label is read from each value's header without checking
its MAC (the scan reads no secret): a planted value claiming ``f``'s label
can get itself deleted, never served. What ``cache_clear`` cannot reach:
tiers that cannot list (``http://`` memokeyd, ``redis+cluster://``) lose
only the entries this process computed or read; values written by memokey
before labels (envelope version 1) carry none and stay until their TTL,
eviction, ``prune`` or ``clear`` (or change ``version=``). It scans the
whole store (one pass over a disk database; SCAN plus one GETRANGE per
key on Redis) and shows progress on stderr while it is a terminal. A
store failure is counted and logged once (a strict store raises). From
the shell: ``memokey cache clear --function NAME`` (``--namespace NS``);
``memokey cache info`` counts entries and bytes per function. To empty a
whole store, ``Store.clear()`` or ``memokey cache clear`` (on Redis: the
keys under the store's prefix, by SCAN and UNLINK; memokey never issues
FLUSHDB or KEYS).

Environment
-----------
The default store (``store=None``) is, in this order of precedence: the
one given to ``set_default_store()``; ``$MEMOKEY_STORE`` (any store URL);
a disk store in ``$MEMOKEY_CACHE_DIR`` (an absolute path); in
``$XDG_CACHE_HOME/memokey``; in ``~/.cache/memokey``. They are read when
the default store is first opened. ``$MEMOKEY_SECRET``: the signing secret
(see above).

Logging
-------
On the ``"memokey"`` logger: a WARNING, once per function and kind, for
store failures and rejected values (see above); at DEBUG level, one line
per store lookup that reaches Python (hit with its tier, or miss and why)
and per computation (a miss: where its result was stored). Hits that the
C++ fast path answers alone -- the memory tier, and store hits of call
shapes it already knows -- are not logged (so that enabling nothing costs
nothing; when DEBUG is off each decision costs one ``isEnabledFor``): use
``verbose=2`` to see every call. ``verbose=1`` prints one line per miss
with the call's time to stderr, ``verbose=2`` every hit too (like
``joblib.Memory(verbose=...)``).

Modules
-------
This module holds the decorator, its options and the memoized function
(``_Memo``); it re-exports the names below from where they live:
``memokey.stores`` (``open_store``, ``ServerStore``, the default store),
``memokey.identity`` (the default name and version of a function,
``code_hash``, and the normalization of its arguments), ``memokey.safe``
(``safe=True`` results: ``SafeModeError`` and the decoder that rebuilds
arrays and dataclasses) and ``memokey.compare`` (``explain``,
``Comparison``, ``Explanation``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy as _copy
import dataclasses
import datetime
import functools
import inspect
import logging
import os
import pickle
import sys
import threading
import time
import weakref
from typing import (
    Any,
    Callable,
    Iterable,
    Optional,
    ParamSpec,
    Protocol,
    TypeVar,
    Union,
    overload,
)

from . import _core
from .compare import Comparison, Explanation, explain
from .identity import _Normalizer, _function_name, _is_atom, code_hash
from .safe import SafeModeError, _NotData, _REBUILT_TAG_HEADS, _rebuild, _safe_loads
from .stores import (
    Lease,
    ServerStore,
    Store,
    _default_where,
    _is_strict,
    _log_open_failure,
    _store_for_url,
    default_cache_dir,
    default_store,
    default_store_url,
    open_store,
    set_default_store,
)

__all__ = [
    "CacheInfo",
    "Explanation",
    "SafeModeError",
    "Store",
    "default_cache_dir",
    "default_store",
    "default_store_url",
    "Memoized",
    "explain",
    "Comparison",
    "Lease",
    "memoize",
    "open_store",
    "ServerStore",
    "set_default_store",
]

logger = logging.getLogger("memokey")

_F = TypeVar("_F", bound=Callable[..., Any])

# _core.MemoWrapper._fetch statuses (defined once, in bindings/python/src/memo.cc)
_HIT, _MISS, _REJECTED = _core.FETCH_HIT, _core.FETCH_MISS, _core.FETCH_REJECTED
_DECODE_FAILED, _ERROR = _core.FETCH_DECODE_FAILED, _core.FETCH_ERROR
# _Memo._cached also answers: a value past ttl (stale_while_revalidate)
_STALE = _core.FETCH_STALE
# _core.MemoWrapper._mem_get (and _peek) statuses
_M_HIT, _M_ABSENT, _M_EXPIRED, _M_ERROR = (
    _core.MEM_HIT,
    _core.MEM_ABSENT,
    _core.MEM_EXPIRED,
    _core.MEM_ERROR,
)



def _leases_after(status: int) -> bool:
    """Whether a miss with this lookup status takes the store's lease."""
    return status == _MISS or status == _ERROR


_DEFAULT_MEMORY = 4096
_MAX_KNOWN_KEYS = 100_000


# --- the type of a memoized function ------------------------------------------------

_P = ParamSpec("_P")
_R = TypeVar("_R")
_R_co = TypeVar("_R_co", covariant=True)


class Memoized(Protocol[_P, _R_co]):
    """What ``@memoize`` returns, for type checkers: ``Memoized[P, R]`` is
    callable as the function was (``Callable[P, R]``; an ``async def``
    function's R is its coroutine) and carries the management methods.

    ::

        @memokey.memoize
        def area(w: int, h: int) -> float: ...

        area(2, 3)                 # float
        area.cache_info().hits     # int
        area.cache_delete(2, h=3)  # bool
        area("2", 3)               # rejected by mypy and pyright

    Accessed through an instance (a memoized method), the bound callable is
    typed ``Callable[..., R]``: its arguments are not checked.
    """

    __wrapped__: Callable[_P, _R_co]

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R_co: ...

    @overload
    def __get__(self, instance: None, owner: Optional[type] = None) -> Memoized[_P, _R_co]: ...
    @overload
    def __get__(self, instance: object, owner: Optional[type] = None) -> Callable[..., _R_co]: ...

    def cache_info(self) -> CacheInfo:
        """Counters of this function in this process."""
        ...

    def cache_clear(self) -> None:
        """Forget this function's results (see ``_Memo.cache_clear``)."""
        ...

    def cache_delete(self, *args: _P.args, **kwargs: _P.kwargs) -> bool:
        """Delete the entry of this call from every tier."""
        ...

    def cache_contains(self, *args: _P.args, **kwargs: _P.kwargs) -> bool:
        """Whether this call would be answered from a tier."""
        ...

    def cache_parameters(self) -> dict[str, Any]:
        """The options this function was memoized with."""
        ...

    def key(self, *args: _P.args, **kwargs: _P.kwargs) -> str:
        """The hex key of this call (also its store key)."""
        ...

    def explain(self, *args: _P.args, **kwargs: _P.kwargs) -> Explanation:
        """Which tier would answer this call, or why each misses."""
        ...


class _Memoizer(Protocol):
    """What ``memoize(...)`` with options returns: a decorator."""

    def __call__(self, fn: Callable[_P, _R], /) -> Memoized[_P, _R]: ...


# --- results ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CacheInfo:
    """Counters of one memoized function in this process.

    hits: calls answered from a tier (memory or store). misses: calls no
    tier could answer (they computed, or waited for a computation in flight).
    computed: executions of the function. waited: calls that got another
    caller's result (single flight). rejected: stored values that failed
    verification (MAC), decode_failed: verified values that did not decode;
    both are misses. errors: store failures (unreachable server, failed
    write, no secret). tiers: hits per tier, "memory" first, then each store
    tier by its URL. currsize/maxsize: entries in the memory tier and its
    bound (None: unbounded).

    Leases (single flight across processes): waited also counts the calls
    that got the value another process (machine) computed while they held
    off; lease_waits: calls that found the key leased by another caller and
    waited for it; lease_timeouts: waits that ran out (lease_wait) -- those
    calls computed anyway. stale: calls answered with a value past its ttl
    (stale_while_revalidate) while it was refreshed in the background; they
    count as hits. refresh_errors: background refreshes that failed (the
    function raised, or the store did; the stale value stays). A failed lease or release counts in errors, and so does a
    store that could not be opened (the function then has its memory tier
    only). damaged: entries the store found damaged -- dropped, never
    served (the store's own count, shared by every function using it).
    """

    hits: int
    misses: int
    computed: int
    waited: int
    rejected: int
    decode_failed: int
    errors: int
    currsize: int
    maxsize: Optional[int]
    tiers: dict[str, int]
    lease_waits: int = 0
    lease_timeouts: int = 0
    stale: int = 0
    damaged: int = 0
    refresh_errors: int = 0


class _CachedError:
    """An exception kept as a result (cache_exceptions=True)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (_CachedError, (self.error,))

    def fresh(self) -> BaseException:
        """The exception to raise for a hit: a copy without a traceback.

        Raising the cached object itself would append the frames of every
        hit to its __traceback__ (a leak, and a traceback nobody can read),
        and would change the traceback of the object the first caller got.
        An exception that cannot be copied is raised with its traceback
        cleared instead."""
        error = self.error
        try:
            copied = _copy.copy(error)
        except Exception:
            return error.with_traceback(None)
        if type(copied) is not type(error):
            return error.with_traceback(None)
        copied.__traceback__ = None
        copied.__cause__ = error.__cause__
        copied.__context__ = error.__context__
        copied.__suppress_context__ = error.__suppress_context__
        return copied


class _Miss:
    """What the C++ wrapper of an async function returns on a memory miss."""

    __slots__ = ("args", "kwargs", "raw", "key", "fetched")

    def __init__(self, args: tuple[Any, ...], kwargs: Any, raw: Any, key: Any, fetched: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.raw = raw
        self.key = key
        self.fetched = fetched


class _Run:
    """What _Memo._slow returns for a miss of a plain function: the C wrapper
    then decides it (single flight and the store's lease, through lib's
    engine), calls the function and keeps its result. rejected: the lookup
    found an unusable stored value (the lease must not bring it back)."""

    __slots__ = ("key", "rejected")

    def __init__(self, key: bytes, rejected: bool) -> None:
        self.key = key
        self.rejected = rejected


_all_memos: "weakref.WeakSet[_Memo]" = weakref.WeakSet()


@dataclasses.dataclass(frozen=True)
class _Options:
    """memoize()'s options, as given (see memoize for each; _Memo checks and
    normalizes them, so a bad value fails at decoration)."""

    store: Any = None
    namespace: Optional[str] = None
    version: Any = None
    ignore: tuple[str, ...] = ()
    ttl: Any = None
    safe: bool = False
    cache_exceptions: bool = False
    copy: bool = False
    memory: Any = _DEFAULT_MEMORY
    secret: Optional[str] = None
    name: Optional[str] = None
    compress_threshold: int = _core.COMPRESS_THRESHOLD
    lease: bool = True
    lease_ttl: Any = 60.0
    lease_wait: Any = None
    stale_while_revalidate: Any = 0
    verbose: Any = 0  # the wrapper's (_decorate), not _Memo's
    _shapes: bool = True  # tests: call shapes off


class _Memo:
    """The Python half of a memoized function (the C++ half: _core.MemoWrapper)."""

    def __init__(self, fn: Callable[..., Any], options: "_Options", *, is_async: bool) -> None:
        o = options  # as memoize() was given them; checked and normalized here
        store, namespace, version, ignore = o.store, o.namespace, o.version, o.ignore
        ttl, safe, cache_exceptions, copy = o.ttl, o.safe, o.cache_exceptions, o.copy
        memory, secret, name, compress_threshold = o.memory, o.secret, o.name, o.compress_threshold
        lease, lease_ttl, lease_wait = o.lease, o.lease_ttl, o.lease_wait
        stale_while_revalidate, _shapes = o.stale_while_revalidate, o._shapes
        self.fn = fn
        self.is_async = is_async
        self.name = name if name is not None else _function_name(fn)
        self.version = str(version) if version is not None else "py:" + code_hash(fn)
        self.namespace = namespace
        # Sealed into every stored value by the C++ core (MemoWrapper computes
        # the same): how cache_clear finds this function's entries.
        self.label = _core.function_label(namespace, self.name)
        self.ttl = _ttl_seconds(ttl)
        self.lease = bool(lease)
        self.lease_ttl = _seconds("lease_ttl", lease_ttl, positive=True)
        self.lease_wait = self.lease_ttl if lease_wait is None else _seconds("lease_wait", lease_wait)
        self.swr = _seconds("stale_while_revalidate", stale_while_revalidate)
        if self.swr and self.ttl is None:
            raise ValueError(
                "memoize: stale_while_revalidate needs ttl= (it is the time after ttl during "
                "which an expired value is still served)"
            )
        # What stores keep: ttl + swr (None: no expiry).
        self.store_ttl = self.ttl + self.swr if self.ttl is not None else None
        self.safe = bool(safe)
        self.cache_exceptions = bool(cache_exceptions)
        self.copy = bool(copy)
        if memory is True:
            memory = _DEFAULT_MEMORY
        elif memory is False:
            memory = 0
        if memory is not None and (not isinstance(memory, int) or memory < 0):
            raise ValueError("memoize: memory must be an int >= 0, True, False or None")
        self.maxsize: Optional[int] = memory
        self.normalize = _Normalizer(fn, ignore)
        defaults = (getattr(fn, "__defaults__", None) or ()) + tuple(
            (getattr(fn, "__kwdefaults__", None) or {}).values()
        )
        # Call shapes may stand for keys only when the defaults cannot change
        # under them (a mutable default could be mutated between calls).
        raw_enabled = _shapes and all(_is_atom(d) for d in defaults)
        if isinstance(store, str):
            # A bad URL fails here, not at the first call. A store that cannot
            # be opened (OSError) is tried again at the first call, and then
            # left out (logged) -- unless it is strict.
            try:
                store = _store_for_url(store)
            except OSError:
                if _core.parse_store_spec(store)["strict"]:
                    raise
        elif not (store is None or store is False or isinstance(store, Store)):
            raise TypeError(f"memoize: store must be a URL, a memokey.Store, None or False, not {store!r}")
        self._store_spec = store
        self._store: Optional[Store] = None
        self._store_ready = False
        self._lock = threading.Lock()
        self._known: dict[bytes, float] = {}  # key -> wall-clock expiry (ttl only)
        self._logged: set[str] = set()
        self._strict = False  # the store raises instead of answering a miss (?strict=1)
        self._open_error: Optional[BaseException] = None  # the store could not be opened
        # stale keys this process is refreshing -> the thread (task) doing it
        self._refreshing: dict[bytes, Any] = {}
        self.refresh_errors = 0  # background refreshes that failed
        self._not_hits: dict[int, int] = {}  # store tier -> _fetch hits that were no hits
        # The calls' counters are lib's engine's and the C wrapper's
        # (core._stats()); memo.py counts only what it sees itself:
        self.errors = 0  # store failures outside the engine: opening it, cache_clear
        self.stale = 0
        slow = self._make_miss if is_async else self._slow

        def wrapper(maxsize: Optional[int]) -> Any:
            return _core.MemoWrapper(
                slow,
                self.name,
                self.version,
                namespace,
                maxsize,
                _copy.deepcopy if self.copy else None,
                raw_enabled,
                self.safe,
                pickle.loads,
                compress_threshold,
                secret,
                _CachedError,
            )

        # self.core is the callable: its memory tier answers hits without
        # entering Python, and it does the store I/O. With
        # stale_while_revalidate a store hit must reach Python (is it
        # stale?): swr=True makes it leave store lookups to _slow.
        self.core = wrapper(memory)
        self.core._set_options(self.cache_exceptions, self.lease, self.lease_ttl,
                               self.lease_wait, self.store_ttl, bool(self.swr))
        if self.normalize.simple:
            self.core._set_simple_arity(self.normalize.n)
        self.core._set_arg_names(self.normalize.keep)  # error paths name the parameter
        self.core._set_ttl(self.ttl)
        if self.safe:  # arrays and dataclasses come back as themselves
            self.core._set_cbor_loads(_safe_loads)
        self.core._set_hooks(self._ensure_store, self._encode, self._computed,
                             logger.isEnabledFor, self.normalize)
        if not is_async:  # the wrapper decides misses and runs the function (see _slow)
            self.core._set_call(fn, _Run)
        _all_memos.add(self)

    # --- store -------------------------------------------------------------------

    def _ensure_store(self) -> None:
        """Open and attach the store on first use. One that cannot be opened
        leaves the memory tier only: counted, logged once (strict: raises)."""
        if self._store_ready:
            return
        spec = self._store_spec
        store: Optional[Store] = None
        failure: Optional[BaseException] = None
        try:
            if spec is None:
                store = default_store()
            elif isinstance(spec, str):  # failed at decoration: one more try
                store = _store_for_url(spec)
            else:
                store = spec or None
        except OSError as e:
            failure = e
        strict = store is not None and _is_strict(store)
        with self._lock:
            if self._store_ready:
                return
            self.core._attach(store, strict)
            self._store = store
            self._strict = strict
            self._open_error = failure
            self.errors += failure is not None
            self._store_ready = True
        if failure is not None:
            where = _default_where() if spec is None else str(spec)
            _log_open_failure(self.name, where, failure, spec is None)

    def _store_failed(self, what: str, note: Optional[str]) -> None:
        """Logs the first store failure of this function (once): the store,
        the error and what to do. Counting is the caller's."""
        if "store" in self._logged:
            return
        store = self._store.describe() if self._store is not None else "?"
        self._log_once(
            "store",
            "memokey: %s: %s failed on store %s (%s); calls compute and return their own "
            "results without it (counted in cache_info().errors; logged once). Check that the "
            "store is reachable and writable (a disk:// directory: it exists, belongs to this "
            "user, the disk is not full), or pass another store= (store=False: memory only); "
            "a strict store (?strict=1, open_store(strict=True)) raises instead",
            self.name,
            what,
            store,
            note,
        )

    def _log_once(self, what: str, message: str, *args: Any) -> None:
        with self._lock:  # threads failing at once still log once
            if what in self._logged:
                return
            self._logged.add(what)
        logger.warning(message, *args)

    def _remember(self, key: bytes, ttl_left: Optional[float] = None) -> None:
        # When each key's TTL ends, for explain() (stores do not say "expired").
        # The keys cache_clear deletes are kept by the C++ core (_take_known).
        ttl = ttl_left if ttl_left is not None else self.ttl
        if ttl and len(self._known) < _MAX_KNOWN_KEYS:
            self._known[key] = time.time() + ttl

    def _lookup_store(
        self, key: bytes, fetched: Optional[tuple] = None
    ) -> tuple[int, Any, Optional[float], int]:
        """(status, value, ttl_left, tier) from the store: a _fetch status,
        logged (failures are misses).

        fetched: the C++ hot path's _fetch() result when it already asked."""
        if fetched is None:
            self._ensure_store()
            if self._store is None:
                return _MISS, None, None, -1
            fetched = self.core._fetch(key)
        status, tier, value, ttl_left, note, error = fetched
        if logger.isEnabledFor(logging.DEBUG):
            self._debug_lookup(key, status, tier, note or error)
        if error is not None:
            self._store_failed("a lookup", error)
        if status == _HIT:
            if note:
                self._log_rejected(key, note)
            self._remember(key, ttl_left)
            return _HIT, value, ttl_left, tier
        if status == _REJECTED:
            self._log_rejected(key, note)
        elif status == _DECODE_FAILED:
            self._log_once(
                "decode",
                "memokey: %s: a stored value for key %s verified but did not decode (%s); "
                "treated as a miss and recomputed (logged once)",
                self.name,
                key.hex(),
                note,
            )
        return status, None, None, -1

    _STATUS_NAMES = {
        _HIT: "hit",
        _MISS: "miss",
        _REJECTED: "miss (MAC rejected)",
        _DECODE_FAILED: "miss (decode failed)",
        _ERROR: "miss (store error)",
    }

    def _debug_lookup(self, key: bytes, status: int, tier: int, note: Optional[str]) -> None:
        """The DEBUG line of a store lookup (the caller checked the level)."""
        where = "store"
        if status == _HIT and self._store is not None:
            tiers = self._store.tiers()
            if 0 <= tier < len(tiers):
                where = tiers[tier]
        logger.debug(
            "memokey: %s: key %s: %s in %s%s",
            self.name,
            key.hex(),
            self._STATUS_NAMES.get(status, str(status)),
            where,
            f" ({note})" if note else "",
        )

    def _log_rejected(self, key: bytes, note: str) -> None:
        self._log_once(
            "rejected",
            "memokey: %s: a stored value for key %s failed verification and was not "
            "decoded (%s); treated as a miss and recomputed (logged once)",
            self.name,
            key.hex(),
            note,
        )

    def _encode(self, value: Any, is_error: bool) -> Optional[tuple[bytes, int]]:
        """(payload, codec) for the store, or None to keep value in memory only."""
        if self.safe:
            if is_error:
                return None
            from . import CanonicalizationError

            try:
                payload = _core.dumps(value)
            except CanonicalizationError as e:
                raise SafeModeError(
                    f"memoize(safe=True): the result of {self.name} has no canonical form: {e}"
                ) from e
            rebuilt = any(head in payload for head in _REBUILT_TAG_HEADS)
            try:
                back = _rebuild(_core.loads(payload), "result")  # refuses any other Tagged
            except _NotData as e:
                raise SafeModeError(
                    f"memoize(safe=True): the result of {self.name} is not a data value: "
                    f"{e.path}: {e.why}; return plain data (dataclasses and numpy arrays "
                    f"included), or use safe=False (pickle)"
                ) from None
            if rebuilt and _core.dumps(back) != payload:
                raise SafeModeError(
                    f"memoize(safe=True): the result of {self.name} would not come back as "
                    f"itself from the store (a class with its own __memokey__ or registered "
                    f"form?); return plain data, or use safe=False (pickle)"
                )
            return payload, _core.CODEC_CBOR
        try:
            return pickle.dumps(_CachedError(value) if is_error else value, protocol=5), _core.CODEC_PICKLE5
        except Exception as e:  # unpicklable: the memory tier keeps it
            self._log_once(
                "pickle",
                "memokey: %s: a result could not be pickled (%s: %s); kept in the memory "
                "tier only (logged once)",
                self.name,
                type(e).__name__,
                e,
            )
            return None

    def _out(self, value: Any) -> Any:
        if isinstance(value, _CachedError):
            raise value.fresh()
        return _copy.deepcopy(value) if self.copy else value

    # --- keys ---------------------------------------------------------------------

    def key_of(self, args: tuple[Any, ...], kwargs: Optional[dict[str, Any]]) -> bytes:
        return self.core._key(self.normalize(args, kwargs))

    def _cached(
        self, key: bytes, raw: Optional[bytes], fetched: Optional[tuple] = None
    ) -> tuple[int, Any, int]:
        """(status, value, tier) from the memory tier or the store.

        status: _HIT (value), _STALE (stale_while_revalidate: a value past
        ttl from store tier `tier`, not put into the memory tier), or why
        there is none: _MISS, _REJECTED, _DECODE_FAILED, _ERROR."""
        status, value = self.core._mem_get(key)
        if status == _M_HIT or status == _M_ERROR:
            if raw is not None:
                self.core._link(raw, key)
            return _HIT, value, -1
        status, value, ttl_left, tier = self._lookup_store(key, fetched)
        if status != _HIT:
            return status, None, -1
        if ttl_left is None:  # no expiry, or the store cannot tell
            ttl_left = self.ttl
        elif self.swr:
            if ttl_left <= self.swr:
                return _STALE, value, tier
            ttl_left -= self.swr
        self.core._put(key, value, ttl_left, raw, isinstance(value, _CachedError))
        return _HIT, value, tier

    def _not_a_hit(self, tier: int) -> None:
        with self._lock:
            self._not_hits[tier] = self._not_hits.get(tier, 0) + 1

    # --- stale-while-revalidate -------------------------------------------------------

    def _refresh_later(
        self, key: bytes, args: tuple[Any, ...], kwargs: Optional[dict[str, Any]], raw: Optional[bytes]
    ) -> None:
        """A caller got a stale value (counted in stale): recompute it in the
        background, unless this process already does. Across processes, the
        refresh itself takes the store's lease at once (wait=0) and leaves
        the key to whoever holds it."""
        with self._lock:
            self.stale += 1
            if key in self._refreshing:
                return
            self._refreshing[key] = None
        if self.is_async:
            task = asyncio.get_running_loop().create_task(self._refresh_async(key, args, kwargs, raw))
            with self._lock:
                self._refreshing[key] = task
            return
        thread = threading.Thread(
            target=self._refresh,
            args=(key, args, kwargs, raw),
            name=f"memokey-refresh {self.name}",
            daemon=True,
        )
        with self._lock:
            self._refreshing[key] = thread
        try:
            thread.start()
        except BaseException:
            with self._lock:
                self._refreshing.pop(key, None)
            raise

    def _refresh_ticket(self, key: bytes) -> Any:
        """The ticket to refresh key (lib's ClaimRefresh: the store's lease,
        without waiting), or None: another process holds the lease, or the
        stored value is fresh again (another caller refreshed it since it was
        found stale)."""
        self._ensure_store()
        ticket = self.core._claim_refresh(key)
        if ticket is None:
            return None
        status, _, ttl_left, tier = self._lookup_store(key)
        if status == _HIT:
            self._not_a_hit(tier)  # a look, not a call
            if ttl_left is None or ttl_left > self.swr:
                self.core._abandon(ticket, None)
                return None
        return ticket

    def _refresh(
        self, key: bytes, args: tuple[Any, ...], kwargs: Optional[dict[str, Any]], raw: Optional[bytes]
    ) -> None:
        """The background refresh of a stale key (a thread of its own): the
        function's new result is stored for another ttl + swr; a failure
        (the function's exception, a store error) is counted in
        refresh_errors and logged once, and the stale value stays."""
        ticket = None
        try:
            ticket = self._refresh_ticket(key)
            if ticket is not None:
                value = self.fn(*args, **(kwargs or {}))
                mine, ticket = ticket, None  # _keep takes it (and ends it if it fails)
                self.core._keep(mine, raw, value, False)
        except BaseException as e:  # a thread: nobody to raise to
            self._refresh_failed(key, e)
        finally:
            self._refresh_done(key, ticket)

    async def _refresh_async(self, key: bytes, args: tuple[Any, ...], kwargs: Any, raw: Any) -> None:
        """_refresh for an async function: a task of the caller's event loop."""
        ticket = None
        try:
            ticket = self._refresh_ticket(key)
            if ticket is not None:
                value = await self.fn(*args, **(kwargs or {}))
                mine, ticket = ticket, None
                self.core._keep(mine, raw, value, False)
        except Exception as e:
            self._refresh_failed(key, e)
        finally:
            self._refresh_done(key, ticket)

    def _refresh_failed(self, key: bytes, error: BaseException) -> None:
        with self._lock:
            self.refresh_errors += 1
        self._log_once(
            "refresh",
            "memokey: %s: refreshing the stale value of key %s failed (%s: %s); the stale value "
            "is still served until its stale_while_revalidate time ends, and a later call tries "
            "again (counted in cache_info().refresh_errors; logged once)",
            self.name,
            key.hex(),
            type(error).__name__,
            error,
        )

    def _refresh_done(self, key: bytes, ticket: Any) -> None:
        try:
            if ticket is not None:  # the refresh failed before keeping a value
                self.core._abandon(ticket, None)
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

    def _wait_refreshes(self, timeout: Optional[float] = None) -> None:
        """Join the background refresh threads running now (tests, shutdown)."""
        with self._lock:
            running = [t for t in self._refreshing.values() if isinstance(t, threading.Thread)]
        for thread in running:
            thread.join(timeout)

    # --- calls (sync) -------------------------------------------------------------
    #
    # The C wrapper (_core.MemoWrapper) answers memory hits and plain store
    # hits itself, and decides misses of plain functions itself, through
    # lib's engine (memo_engine.h: single flight in this process, the store's
    # lease across processes): it calls the function -- so while it runs no
    # Python frame of memokey is on the stack: a memoized recursive function
    # costs one frame per level (as deep as lru_cache goes), and a traceback
    # through it shows the user's frames only -- and keeps its result. It
    # calls _slow only for what needs Python: a call to normalize through the
    # signature, a lookup to log (a rejected value, a failed store), a cached
    # exception, stale-while-revalidate. _slow returns the call's result --
    # a value, or a _CachedError that the wrapper raises (a fresh copy) -- or
    # a _Run: a miss, which the wrapper then decides. Along a miss the
    # wrapper calls _ensure_store (once), _encode (the payload for the store,
    # or safe mode's check) and _computed (logs).

    def _result(self, value: Any) -> Any:
        """What _slow hands to the C wrapper for a value found."""
        if self.copy and not isinstance(value, _CachedError):
            return _copy.deepcopy(value)
        return value

    def _slow(
        self,
        args: tuple[Any, ...],
        kwargs: Optional[dict[str, Any]],
        raw: Optional[bytes],
        key: Optional[bytes],
        fetched: Optional[tuple],
    ) -> Any:
        key, status, value = self._look(args, kwargs, raw, key, fetched)
        if status == _HIT:
            return self._result(value)
        # After an unusable stored value, the lease must not bring it back.
        return _Run(key, not _leases_after(status))

    def _look(
        self, args: tuple[Any, ...], kwargs: Any, raw: Optional[bytes], key: Optional[bytes],
        fetched: Optional[tuple],
    ) -> tuple[bytes, int, Any]:
        """(key, status, value) of a call that missed the C wrapper's memory
        tier: the key (normalized here when the wrapper had none), then the
        memory tier and the store (_cached). A stale value (_STALE) starts its
        background refresh and is reported as _HIT: the caller returns it."""
        if key is None:
            key = self.key_of(args, kwargs)
            if raw is not None:
                self.core._link(raw, key)
        status, value, _ = self._cached(key, raw, fetched)
        if status == _STALE:
            self._refresh_later(key, args, kwargs, raw)
            status = _HIT
        return key, status, value

    def _computations(self) -> int:
        """How often the function ran (cache_info().computed), for verbose."""
        return int(self.core._stats()["computed"])

    def _computed(self, key: bytes, is_error: bool, nbytes: Optional[int], note: Optional[str]) -> None:
        """After a result (is_error: an exception) was kept: nbytes stored in
        the store (None: memory only); note: why the store write failed."""
        if note is not None:
            self._store_failed("storing a result", note)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "memokey: %s: key %s: computed (a miss); %s %s",
                self.name,
                key.hex(),
                "exception" if is_error else "result",
                f"stored in {self._store.describe()} ({nbytes} bytes) and memory"
                if nbytes is not None and self._store is not None
                else "kept in memory only",
            )
        self._remember(key)

    # --- calls (async) ------------------------------------------------------------

    def _make_miss(
        self, args: tuple[Any, ...], kwargs: Any, raw: Any, key: Any, fetched: Any
    ) -> _Miss:
        return _Miss(args, kwargs, raw, key, fetched)

    async def _slow_async(self, miss: _Miss) -> Any:
        """_slow for an async function: the lookup, then the miss through
        lib's engine (single flight in this process, the store's lease
        across processes), the function awaited on the caller's loop."""
        args, kwargs, raw = miss.args, miss.kwargs, miss.raw
        key, status, value = self._look(args, kwargs, raw, miss.key, miss.fetched)
        if status == _HIT:
            return self._out(value)
        self._ensure_store()
        # The task is the owner: a task that calls its own key computes it.
        state, got = self.core._claim(
            key, raw, not _leases_after(status), id(asyncio.current_task())
        )
        while state == "wait":
            state, got = await _wait_async(got)
        if state == "value":
            return self._out(got)
        ticket = got  # "granted": a ticket; "compute" (re-entry): None, keep nothing
        try:
            value = await self.fn(*args, **(kwargs or {}))
        except BaseException as e:
            if ticket is not None:
                if self.cache_exceptions and isinstance(e, Exception):
                    self.core._keep(ticket, raw, e, True)
                else:  # cancelled: the waiters claim the key again
                    self.core._abandon(ticket, None if isinstance(e, asyncio.CancelledError) else e)
            raise
        if ticket is not None:
            self.core._keep(ticket, raw, value, False)
        return self._out(value)

    # --- introspection ------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        # The C wrapper and lib's engine count the calls; memo.py what only
        # it sees (stale hits, failed refreshes, a store that did not open).
        s = self.core._stats()
        tiers = {"memory": s["memory_hits"]}
        for i, (name, hits) in enumerate(zip(s["tiers"], s["tier_hits"])):
            tiers[name] = tiers.get(name, 0) + hits - self._not_hits.get(i, 0)
        return CacheInfo(
            hits=sum(tiers.values()),
            misses=s["misses"],
            computed=s["computed"],
            waited=s["waited"],
            rejected=s["rejected"],
            decode_failed=s["decode_failed"],
            errors=s["store_errors"] + self.errors,
            currsize=s["currsize"],
            maxsize=self.maxsize,
            tiers=tiers,
            lease_waits=s["lease_waits"],
            lease_timeouts=s["lease_timeouts"],
            stale=self.stale,
            refresh_errors=self.refresh_errors,
            damaged=self._store.stats()["damaged"] if self._store is not None else 0,
        )

    def cache_clear(self) -> None:
        """Forget this function's results: the memory tier, and its entries in
        every store tier that can list its entries, whichever process wrote
        them (found by the label in their envelopes, ``self.label``). Tiers
        that cannot list (http://, redis+cluster://) lose the entries this
        process computed or read. Progress on stderr while it is a terminal;
        a store failure is counted and logged once (strict: raised);
        counters are kept. See the module doc."""
        self.core._clear()
        keys = self.core._take_known()
        self._known.clear()
        self._ensure_store()
        store = self._store
        if store is None:
            return
        from .cli import _Progress  # the CLI's progress lines, for one API

        progress = _Progress(f"clearing {self.name}", sys.stderr)
        removed = 0
        unlisted: list[str] = []
        scanned = False
        try:
            result = store.clear_labelled(self.label, progress.callback())
            removed, unlisted = result["removed"], result["unlisted"]
            scanned = True
        except ValueError:  # no tier can list: this process's keys are all it knows
            unlisted = store.tiers()
        except OSError as e:
            if self._strict:
                raise
            with self._lock:
                self.errors += 1
            self._store_failed("clearing its entries", str(e))
        finally:
            progress.done()
        if keys and (unlisted or not scanned):
            # Deleted from the whole store: the tiers that cannot list included.
            failed = sum(not self.core._delete(key) for key in keys)  # counted in C++
            if failed:
                self._store_failed(f"deleting {failed} of {len(keys)} entries", None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "memokey: %s: cache_clear removed %d labelled entries from %s%s",
                self.name,
                removed,
                store.describe(),
                f"; tiers that cannot list ({', '.join(unlisted)}) lost only the {len(keys)} "
                "entries this process knew" if unlisted else "",
            )

    def cache_delete(self, *args: Any, **kwargs: Any) -> bool:
        """Delete the entry of the call ``f(*args, **kwargs)`` from every tier
        -- the memory tier and each store tier -- without computing anything.
        Returns whether an entry was there (in any tier) before. The next such
        call computes again. A store failure is counted and logged like any
        other (a strict store raises it)."""
        key = self.key_of(args, kwargs)
        present = self.core._peek(key) == _M_HIT
        self.core._forget(key)
        self._known.pop(key, None)
        self._ensure_store()
        if self._store is not None:
            try:
                present = self._store.contains(key.hex()) or present
            except OSError:
                if self._strict:
                    raise
            if not self.core._delete(key):  # counted in C++
                self._store_failed("deleting an entry", None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("memokey: %s: deleted key %s (%s)", self.name, key.hex(),
                         "was present" if present else "was absent")
        return present

    def cache_contains(self, *args: Any, **kwargs: Any) -> bool:
        """Whether the call ``f(*args, **kwargs)`` would be answered from a
        tier: present in memory, or present, unexpired and verified (MAC) in
        a store tier. Nothing is computed, no counter of cache_info() moves
        and no tier is filled; a stale value (stale_while_revalidate) counts
        as present."""
        key = self.key_of(args, kwargs)
        if self.core._peek(key) == _M_HIT:
            return True
        self._ensure_store()
        if self._store is None:
            return False
        return any(status == "hit" for _, status, _ in self.core._explain(key))

    def key(self, *args: Any, **kwargs: Any) -> str:
        return self.key_of(args, kwargs).hex()

    def explain(self, *args: Any, **kwargs: Any) -> Explanation:
        key = self.key_of(args, kwargs)
        rows: list[tuple[str, str, str]] = []
        answered: Optional[str] = None
        peek = self.core._peek(key)
        if self.maxsize == 0:
            rows.append(("memory", "disabled", "memory=0"))
        else:
            status = {_M_HIT: "hit", _M_ABSENT: "not present", _M_EXPIRED: "expired"}[peek]
            rows.append(("memory", status, "the Python object itself" if peek == _M_HIT else ""))
            if peek == _M_HIT:
                answered = "memory"
        self._ensure_store()
        if self._open_error is not None:
            where = _default_where() if self._store_spec is None else str(self._store_spec)
            rows.append((where, "error", f"cannot be opened: {self._open_error}"))
        expiry = self._known.get(key)
        for tier, status, detail in self.core._explain(key):
            if status == "not present" and expiry is not None and time.time() >= expiry:
                status, detail = "expired", "written by this process with a ttl that has passed"
            rows.append((tier, status, detail))
            if answered is None and status == "hit":
                answered = tier
        return Explanation(self.name, key.hex(), answered, rows)

    def cache_parameters(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "namespace": self.namespace,
            "label": self.label,
            "store": self._store.describe() if self._store is not None else self._store_spec,
            "ttl": self.ttl,
            "safe": self.safe,
            "cache_exceptions": self.cache_exceptions,
            "copy": self.copy,
            "memory": self.maxsize,
            "lease": self.lease,
            "lease_ttl": self.lease_ttl,
            "lease_wait": self.lease_wait,
            "stale_while_revalidate": self.swr,
        }


def _ttl_seconds(ttl: Any) -> Optional[float]:
    """ttl as seconds (None: no expiry). ttl=0 is refused: cachetools and
    diskcache read it as "expire at once", which would make memoizing
    pointless, and an earlier memokey read it as "never": neither is what a
    caller can mean safely, so the error names both spellings."""
    if ttl is None:
        return None
    seconds = _seconds("ttl", ttl, finite=False)
    if seconds == 0:
        raise ValueError(
            "memoize: ttl=0 is not allowed (it would expire every result at once): use "
            "ttl=None (the default) for results that never expire, or a number of seconds > 0"
        )
    return seconds


def _seconds(option: str, value: Any, positive: bool = False, finite: bool = True) -> float:
    """A duration option (seconds or a timedelta) as float seconds, or ValueError naming it."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value >= 0
        or (finite and value == float("inf"))
        or (positive and value == 0)
    ):
        raise ValueError(
            f"memoize: {option} must be a number of seconds {'> 0' if positive else '>= 0'} "
            f"or a timedelta, not {value!r}"
        )
    return float(value)


_lease_lock = threading.Lock()
_lease_executor: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _lease_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads async functions wait in for another caller's computation
    or lease (not the loop's default executor: a wait may take the whole
    lease_wait)."""
    global _lease_executor
    with _lease_lock:
        if _lease_executor is None:
            _lease_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=64, thread_name_prefix="memokey-lease"
            )
        return _lease_executor


def _take_lease(handle: Any) -> tuple[str, Any]:
    """In a _lease_pool thread: wait for the key's computation, in this
    process or (through the store's lease) in another -- a _core.MemoWait's
    get(), which lets the GIL go while it waits."""
    return handle.get()


def _drop_ticket(future: "concurrent.futures.Future[tuple[str, Any]]") -> None:
    """A waiting task was cancelled: a ticket its thread got after all is
    given back at once (the next caller computes), not when it is collected."""
    if future.cancelled() or future.exception() is not None:
        return
    state, got = future.result()
    if state == "granted":
        got.abandon()


async def _wait_async(handle: Any) -> tuple[str, Any]:
    """handle.get() in a worker thread: the event loop runs while it waits."""
    future = _lease_pool().submit(_take_lease, handle)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.add_done_callback(_drop_ticket)
        raise


def _after_fork_in_child() -> None:
    global _lease_lock, _lease_executor
    _lease_lock = threading.Lock()  # memokey.stores replaces its own lock
    _lease_executor = None  # its threads did not survive the fork
    for memo in list(_all_memos):
        memo._lock = threading.Lock()
        memo.core._after_fork()
        memo._refreshing = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- the decorator -----------------------------------------------------------------


def _verbose_level(verbose: Any) -> int:
    if isinstance(verbose, bool):
        return int(verbose)
    if not isinstance(verbose, int) or not 0 <= verbose <= 2:
        raise ValueError(f"memoize: verbose must be 0, 1 or 2, not {verbose!r}")
    return verbose


def _verbose(target: Any, memo: "_Memo", level: int, is_async: bool) -> Any:
    """target wrapped to report its calls on stderr (verbose=1: misses with
    the call's time; 2: hits too). One more Python frame per call: verbose is
    for looking, not for production."""
    name = memo.name

    def report(before: int, started: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - started
        if memo._computations() > before:
            what = f"miss, computed in {elapsed:.6f} s"
        elif level >= 2:
            what = f"hit in {elapsed:.6f} s"
        else:
            return
        try:
            key = memo.key(*args, **kwargs)[:16]
        except Exception:  # the call itself raised for its arguments
            key = "?"
        print(f"[memokey] {name}: {what} (key {key}...)", file=sys.stderr)

    if is_async:

        @functools.wraps(target)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            before, started = memo._computations(), time.perf_counter()
            try:
                return await target(*args, **kwargs)
            finally:
                report(before, started, args, kwargs)

    else:

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            before, started = memo._computations(), time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                report(before, started, args, kwargs)

    return wrapper


def _decorate(fn: Any, options: _Options) -> Any:
    verbose = _verbose_level(options.verbose)
    if verbose:
        quiet = dataclasses.replace(options, verbose=0)
        if isinstance(fn, (staticmethod, classmethod)):
            return type(fn)(_decorate(fn.__func__, options))
        target = _decorate(fn, quiet)
        memo = target.__memokey_memo__
        target = _verbose(target, memo, verbose, memo.is_async)
        target.__memokey_memo__ = memo
        return target
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(_decorate(fn.__func__, options))
    if not callable(fn):
        raise TypeError(f"memoize: expected a function, not {type(fn).__name__}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"memoize: {getattr(fn, '__qualname__', fn)!r} is a generator function: its "
            f"result is an iterator, which cannot be cached; memoize a function returning a list"
        )
    is_async = inspect.iscoroutinefunction(fn)
    memo = _Memo(fn, options, is_async=is_async)
    if is_async:
        core = memo.core
        slow_async = memo._slow_async

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = core(*args, **kwargs)
            if result.__class__ is _Miss:
                return await slow_async(result)
            return result

        target: Any = wrapper
    else:
        target = memo.core
        functools.update_wrapper(target, fn)
    target.cache_info = memo.cache_info
    target.cache_clear = memo.cache_clear
    target.cache_parameters = memo.cache_parameters
    target.key = memo.key
    target.explain = memo.explain
    target.cache_delete = memo.cache_delete
    target.cache_contains = memo.cache_contains
    target.__memokey_memo__ = memo
    return target


@overload
def memoize(fn: Callable[_P, _R]) -> Memoized[_P, _R]: ...
@overload
def memoize(
    fn: None = None,
    *,
    store: Union[Store, str, None, bool] = None,
    namespace: Optional[str] = None,
    version: Union[str, int, None] = None,
    ignore: Iterable[str] = (),
    ttl: Union[float, datetime.timedelta, None] = None,
    safe: bool = False,
    cache_exceptions: bool = False,
    copy: bool = False,
    memory: Union[int, bool, None] = _DEFAULT_MEMORY,
    secret: Optional[str] = None,
    name: Optional[str] = None,
    compress_threshold: int = _core.COMPRESS_THRESHOLD,
    lease: bool = True,
    lease_ttl: Union[float, datetime.timedelta] = 60.0,
    lease_wait: Union[float, datetime.timedelta, None] = None,
    stale_while_revalidate: Union[float, datetime.timedelta] = 0,
    verbose: int = 0,
) -> _Memoizer: ...
def memoize(
    fn: Any = None,
    *,
    store: Union[Store, str, None, bool] = None,
    namespace: Optional[str] = None,
    version: Union[str, int, None] = None,
    ignore: Iterable[str] = (),
    ttl: Union[float, datetime.timedelta, None] = None,
    safe: bool = False,
    cache_exceptions: bool = False,
    copy: bool = False,
    memory: Union[int, bool, None] = _DEFAULT_MEMORY,
    secret: Optional[str] = None,
    name: Optional[str] = None,
    compress_threshold: int = _core.COMPRESS_THRESHOLD,
    lease: bool = True,
    lease_ttl: Union[float, datetime.timedelta] = 60.0,
    lease_wait: Union[float, datetime.timedelta, None] = None,
    stale_while_revalidate: Union[float, datetime.timedelta] = 0,
    verbose: int = 0,
    _shapes: bool = True,
) -> Any:
    """Memoize a function (plain or ``async def``) by the canonical form of its arguments.

    ``@memoize`` or ``@memoize(...)`` with:

    store: a ``memokey.Store``, its URL, None (the default: a disk store in
        ``~/.cache/memokey``, see :func:`default_store`) or False (the memory
        tier only). A store that fails, or cannot be opened, never fails a
        call (counted, logged once; ``?strict=1`` raises): see the module doc.
    namespace: the key namespace (separates applications sharing a store).
    version: replaces the hash of the function's code in the key.
    ignore: names of parameters left out of the key (e.g. ``"self"``, a logger).
    ttl: seconds (or a timedelta) a result stays valid, in every tier; > 0.
        None (the default): results never expire.
        ``ttl=0`` raises ValueError (unlike cachetools/diskcache, where it
        expires at once: memoizing with it would cache nothing).
    safe: store canonical CBOR instead of pickle (data results only).
    cache_exceptions: cache exceptions (Exception subclasses) as results.
    copy: return ``copy.deepcopy`` of memory-tier hits.
    memory: entries in the memory tier (0/False: none, None: unbounded).
    secret: the signing secret (default ``$MEMOKEY_SECRET`` or the key file).
    name: the function's name in the key (default ``"module:qualname"``).
    compress_threshold: zstd-compress stored payloads from this many bytes.
    lease: single flight across processes and machines: a caller that
        misses takes the store's lease on the key, so that one caller
        computes while the others (any process or machine sharing the
        store) wait for its result. False: single flight per process only.
    lease_ttl: seconds (or a timedelta) a lease lasts when its holder dies
        without releasing it (Redis, memokeyd; a disk lease ends when its
        holder dies). A function running longer than lease_ttl (on disk:
        than its waiters' lease_wait) may be computed twice -- never
        wrongly: give it a larger lease_ttl.
    lease_wait: the longest a caller waits for another holder before it
        computes anyway (None: lease_ttl).
    stale_while_revalidate: seconds (or a timedelta) after ``ttl`` during
        which an expired value is still returned at once while it is
        recomputed in the background (one refresh per key: a thread of
        this process -- a task of the caller's event loop for async
        functions -- that holds the store's lease). Needs ttl.
    verbose: report calls on stderr, like joblib.Memory's verbose: 0 (the
        default) nothing; 1 one line per miss with the time the call took
        (``[memokey] mod:f: miss, computed in 0.120000 s (key 1a2b...)``);
        2 hits too. It wraps the function in one more Python frame; for
        logging without it, see the ``"memokey"`` logger at DEBUG level in
        the module doc.
    _shapes: internal (benchmarks, tests): False turns off the call-shape
        cache, so every call that misses the memory tier normalizes and
        hashes its arguments, as the first call of a fresh process does.

    Invalid values raise ValueError naming the option. See the module
    documentation (``help(memokey.memo)``) for keys, tiers, security,
    concurrency (leases) and stale-while-revalidate.
    """
    options = _Options(
        store=store,
        namespace=namespace,
        version=version,
        ignore=tuple([ignore] if isinstance(ignore, str) else ignore),
        ttl=ttl,
        safe=safe,
        cache_exceptions=cache_exceptions,
        copy=copy,
        memory=memory,
        secret=secret,
        name=name,
        compress_threshold=compress_threshold,
        lease=lease,
        lease_ttl=lease_ttl,
        lease_wait=lease_wait,
        stale_while_revalidate=stale_while_revalidate,
        verbose=verbose,
        _shapes=_shapes,
    )
    if fn is not None:
        return _decorate(fn, options)
    return lambda f: _decorate(f, options)
