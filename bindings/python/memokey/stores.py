"""memokey.stores: opening stores, and the default store of ``@memoize``.

A store is a ``memokey.Store`` (the C++ stores of ``memokey._core``), opened
from a URL:

open_store(url, *, strict=False)
    ``memory://``, ``disk:///path``, ``redis://``, ``redis+unix://``,
    ``redis+cluster://``, ``http://`` (memokeyd) and ``tiered:URL|URL|...``.
    ``strict=True`` returns a store whose failures ``@memoize`` raises
    instead of counting them (``_is_strict`` tells them apart).
ServerStore(url, *, token=, timeout=, connect_timeout=, strict=)
    A store on a memokeyd server, the token and deadlines given as
    arguments instead of in the URL.

The default store -- the store of a memoized function without ``store=`` --
is, in this order of precedence: the one given to
``set_default_store()``; ``$MEMOKEY_STORE`` (any store URL); a disk store
in ``$MEMOKEY_CACHE_DIR``; in ``$XDG_CACHE_HOME/memokey``; in
``~/.cache/memokey``. ``default_store_url()`` is the URL it opens,
``default_cache_dir()`` the directory of the disk default, and
``default_store()`` opens it on first use (the environment is read then,
not at import) and keeps it for the process.

For ``@memoize`` (``memokey.memo``): ``_store_for_url`` keeps one store per
URL in a process, so that functions given the same ``store=`` URL share
it; ``_log_open_failure`` logs a store that cannot be opened once per
store per process (on the ``"memokey"`` logger: every function using it
then runs with its memory tier only); ``_default_where`` names the default
store in those messages.

This module's state (the default store, the stores by URL, the stores
already logged) is guarded by one lock, which a forked child replaces (the
parent's may have been held by another thread at the fork).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import urllib.parse
from typing import Optional, Union

from . import _core

__all__ = [
    "Lease",
    "ServerStore",
    "Store",
    "default_cache_dir",
    "default_store",
    "default_store_url",
    "open_store",
    "set_default_store",
]

logger = logging.getLogger("memokey")

Store = _core.Store
Lease = _core.Lease


class _StrictStore(_core.Store):
    """A store whose failures ``@memoize`` raises instead of counting them:
    what ``open_store`` returns for ``strict=True`` (even where a tier's own
    URL says ``strict=0``, which keeps only that tier's ``get()`` quiet)."""


def open_store(url: str, *, strict: bool = False) -> Store:
    """Open a ``memokey.Store`` from a URL.

    ``memory://?max_bytes=64M``, ``disk:///abs/path?max_bytes=1G``,
    ``redis://[user:pass@]host:port/db?prefix=memokey:&timeout_ms=1000``,
    ``redis+unix:///path.sock``,
    ``redis+cluster://host:port,host:port,...?prefix=memokey:`` (a Redis
    Cluster: the slot map is read from any of the seeds),
    ``http://[token@]host:port/namespace`` (memokeyd; see ``ServerStore``),
    ``tiered:URL1|URL2|...`` (fastest first).
    Raises ValueError for a bad URL, OSError when a disk directory cannot be
    created or opened. Redis connects lazily (opening never fails because
    the server is down).

    ``strict=True`` (or ``strict=1`` in the URL of any tier, ``disk://`` and
    ``memory://`` included): ``@memoize`` raises the store's failures
    (OSError, ConnectionError) instead of counting them and computing, and
    Redis/memokeyd tiers raise from ``get()`` too.
    """
    return _StrictStore(url, strict=True) if strict else _core.Store(url)


def _is_strict(store: Store) -> bool:
    return isinstance(store, _StrictStore) or store.strict


def ServerStore(
    url: str,
    *,
    token: Optional[str] = None,
    timeout: Optional[float] = None,
    connect_timeout: Optional[float] = None,
    strict: bool = False,
) -> Store:
    """A store on a memokeyd server: ``ServerStore("http://cache:8080/team", token=...)``.

    ``url`` is the server and the namespace. The token (read or read-write on
    that namespace) is sent as ``Authorization: Bearer``; connections are kept
    alive and pooled, each request has a deadline (``timeout`` seconds,
    default 5; ``connect_timeout`` default 1) and is retried once on a fresh
    connection when the connection fails. A server that cannot be reached
    makes ``get`` a counted miss and ``put`` an error that ``@memoize``
    counts and ignores, unless ``strict=True``. Equivalent to
    ``open_store("http://TOKEN@host:port/namespace?timeout_ms=...")``.
    """
    if not url.startswith("http://"):
        raise ValueError(f"ServerStore: expected an http:// URL, got {url!r}")
    rest = url[len("http://"):]
    if token is not None:
        if "@" in rest.split("/", 1)[0]:
            raise ValueError("ServerStore: give the token either in the URL or as token=, not both")
        rest = urllib.parse.quote(token, safe="") + "@" + rest
    query = []
    if timeout is not None:
        query.append(f"timeout_ms={max(1, int(timeout * 1000))}")
    if connect_timeout is not None:
        query.append(f"connect_timeout_ms={max(1, int(connect_timeout * 1000))}")
    if strict:
        query.append("strict=1")
    if query:
        rest += ("&" if "?" in rest else "?") + "&".join(query)
    return open_store("http://" + rest)


def default_cache_dir() -> str:
    """The directory of the default disk store.

    ``$MEMOKEY_CACHE_DIR`` when it is set (it must be an absolute path: a
    relative one raises OSError at the first use of the default store, as it
    would depend on the working directory), else ``$XDG_CACHE_HOME/memokey``
    (when that is an absolute path), else ``~/.cache/memokey``. Unused when
    ``$MEMOKEY_STORE`` names the default store (see :func:`default_store`).
    """
    own = os.environ.get("MEMOKEY_CACHE_DIR", "")
    if own:
        return own
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "memokey")


def default_store_url() -> str:
    """The URL :func:`default_store` opens: ``$MEMOKEY_STORE`` when it is set
    (any store URL, e.g. ``redis://cache:6379/0`` or ``tiered:memory://|disk:///x``),
    else ``disk://<default_cache_dir()>?max_bytes=1G``.

    Raises OSError when the directory is not an absolute path (a relative
    ``$MEMOKEY_CACHE_DIR``; no home directory)."""
    url = os.environ.get("MEMOKEY_STORE", "")
    if url:
        return url
    path = default_cache_dir()
    if not os.path.isabs(path):  # a relative MEMOKEY_CACHE_DIR; no $HOME: "~" stays "~"
        if os.environ.get("MEMOKEY_CACHE_DIR"):
            reason = "$MEMOKEY_CACHE_DIR is not an absolute path"
        else:
            reason = (
                "no cache directory: $XDG_CACHE_HOME is not an absolute path and the home "
                "directory is unknown"
            )
        raise OSError(errno.ENOENT, reason, path)
    return "disk://" + urllib.parse.quote(path) + "?max_bytes=1G"


def _default_where() -> str:
    """The default store for messages: its URL, or the directory it would be in."""
    try:
        return default_store_url()
    except OSError:
        return default_cache_dir()


_store_lock = threading.Lock()
_default_store: Optional[Store] = None
_stores_by_url: dict[str, Store] = {}


def default_store() -> Store:
    """The store of ``@memoize`` without ``store=``: opened on first use.

    The first of, in this order of precedence:

    1. the store given to :func:`set_default_store`;
    2. ``$MEMOKEY_STORE``: any store URL (see :func:`open_store`);
    3. a disk store (1 GiB, created 0700) in ``$MEMOKEY_CACHE_DIR``;
    4. ... in ``$XDG_CACHE_HOME/memokey``;
    5. ... in ``~/.cache/memokey``.

    The environment is read when the default store is first opened (the
    first call of a memoized function without ``store=``), not at import.
    Raises OSError when the store cannot be opened (no home directory, a
    relative ``$MEMOKEY_CACHE_DIR``, a directory below a regular file, a
    read-only file system, a malformed ``$MEMOKEY_STORE``); a later call
    tries again. ``@memoize`` then logs it once and runs with the memory
    tier only.
    """
    global _default_store
    with _store_lock:
        if _default_store is None:
            url = default_store_url()
            try:
                _default_store = open_store(url)
            except ValueError as e:  # from the environment: not the caller's mistake
                raise OSError(errno.EINVAL, f"$MEMOKEY_STORE is not a store URL ({e})", url) from e
        return _default_store


def set_default_store(store: Union[Store, str, None]) -> None:
    """Use *store* (a Store or URL; None: back to the disk default) for every
    memoized function that has no ``store=`` and has not opened its store yet."""
    global _default_store
    resolved = open_store(store) if isinstance(store, str) else store
    if resolved is not None and not isinstance(resolved, Store):
        raise TypeError("set_default_store: expected a memokey.Store, a URL or None")
    with _store_lock:
        _default_store = resolved


def _store_for_url(url: str) -> Store:
    """One store per URL in a process (open_store; its errors propagate, and
    a failed open is tried again next time)."""
    with _store_lock:
        store = _stores_by_url.get(url)
        if store is None:
            store = open_store(url)
            _stores_by_url[url] = store
        return store


_open_failures_logged: set[str] = set()


def _log_open_failure(function: str, where: str, error: BaseException, default: bool) -> None:
    """The warning for a store that cannot be opened: once per store per process
    (every function using it runs with its memory tier only)."""
    with _store_lock:
        if where in _open_failures_logged:
            return
        _open_failures_logged.add(where)
    if default:
        action = (
            "set MEMOKEY_CACHE_DIR (or XDG_CACHE_HOME, or HOME) to a writable directory or "
            "MEMOKEY_STORE to a store URL, pass store= to memoize "
            "(store=False: memory only), or call memokey.set_default_store()"
        )
    else:
        action = "make the directory creatable and writable by this user, or pass another store="
    logger.warning(
        "memokey: %s: the %sstore %s cannot be opened (%s: %s); memoized functions using it "
        "run with their memory tier only (counted in cache_info().errors; logged once). To "
        "fix: %s",
        function,
        "default " if default else "",
        where,
        type(error).__name__,
        error,
        action,
    )


def _after_fork_in_child() -> None:
    global _store_lock
    _store_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
