"""The ``memokey`` command: see, list, clear and prune caches from the shell.

::

    memokey cache info                      # the default store (see below)
    memokey cache ls --limit 20 --sort idle
    memokey cache clear --store redis://cache:6379/0?prefix=app:
    memokey cache clear --key 3f2a...       # one entry (the hex key f.key(...) gives)
    memokey cache clear --function app.models:fit        # one function's entries
    memokey cache clear --namespace sim     # every function of namespace "sim"
    memokey cache prune                     # remove expired entries
    memokey cache prune --max-bytes 500M    # ... then least recently used ones down to 500 MiB

Also ``python -m memokey cache ...``. Every command takes ``--store URL``
(any ``memokey.open_store`` URL); without it, the store ``@memoize`` uses by
default: ``$MEMOKEY_STORE``, else a disk store in ``$MEMOKEY_CACHE_DIR``,
``$XDG_CACHE_HOME/memokey`` or ``~/.cache/memokey`` (see
``memokey.default_store``). ``--json`` prints what ``info``/``ls`` found as
JSON.

What a store can tell: its entries (key, value size, remaining time to
live, and how long ago each was last used where the store keeps that: disk
and Redis), their count and bytes, and which function each belongs to:
``@memoize`` (and the C++ ``memokey::memoize``) seal every value with its
function's label -- ``name`` (``"module:qualname"`` or ``name=``), or
``namespace`` and ``name`` (``memokey.function_label``) -- so ``info``
counts entries and bytes per function (``namespace/name``), ``ls`` shows
each entry's function, and ``clear --function NAME`` / ``--namespace NS``
removes one function's (or namespace's) entries, whichever process wrote
them (every version of the function). Values written before labels
(envelope version 1) or by something else show as ``(unlabelled)``. The
label is read from each value's header without its MAC: a forged value
can claim a function and be listed or deleted under it, never served.
Hits and misses are counted per process (``f.cache_info()``), not by
stores: ``info`` says so.

Redis: the keys under the store's prefix (``?prefix=``, default
``memokey:``), found with SCAN -- never KEYS or FLUSHDB, so other data in
the database is left alone. memokeyd (``http://``) and Redis Cluster stores
cannot be listed: those commands exit with status 2 saying so.

Exit status: 0 done; 1 the store failed (cannot be opened or reached);
2 bad usage (unknown command or option, malformed URL or size, a store
that cannot do the operation), with a message on stderr. ``clear`` and
``prune`` report their progress on stderr while it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Callable, Optional, Sequence, TextIO

__all__ = ["main"]


class UsageError(ValueError):
    """A command line that cannot be run: exit status 2."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``123``, ``64K``, ``1.5G``, ``500MiB`` (powers of 1024) or
    ``500MB`` (powers of 1000): the sizes store URLs take."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"not a size: {text!r} (e.g. 500M, 2G, 1048576)")
    number, unit, suffix = m.group(1), m.group(2).lower(), m.group(3).lower()
    if suffix == "i":
        raise UsageError(f"not a size: {text!r} (e.g. 500M, 2G, 1048576)")
    power = "kmgt".find(unit) + 1 if unit else 0
    base = 1000 if suffix == "b" and unit else 1024
    return int(float(number) * base**power)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # unreachable


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expired"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


class _Progress:
    """Progress lines on stderr while it is a terminal; nothing otherwise."""

    def __init__(self, what: str, stream: TextIO) -> None:
        self.what = what
        self.stream = stream
        self.shown = False
        self.enabled = stream.isatty()

    def callback(self) -> Optional[Callable[[int], bool]]:
        if not self.enabled:
            return None

        def report(done: int) -> bool:
            self.stream.write(f"\r{self.what}: {done} entries...")
            self.stream.flush()
            self.shown = True
            return True

        return report

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _open(url: Optional[str]) -> Any:
    from . import stores

    if url is None:
        url = stores.default_store_url()
    try:
        return stores.open_store(url)
    except ValueError as e:
        raise UsageError(str(e)) from e


_Entry = tuple[str, int, Optional[float], Optional[float], Optional[str]]
_UNLABELLED = "(unlabelled)"


def _entries(store: Any) -> list[_Entry]:
    """Every entry with its label (see Store.entries)."""
    try:
        entries: list[_Entry] = store.entries(labels=True)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return entries


def split_label(label: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(namespace, name) of a function label (memokey.function_label):
    (None, None) for no label, (None, name) without a namespace."""
    if label is None:
        return None, None
    namespace, sep, name = label.partition("\x1f")
    return (namespace, name) if sep else (None, label)


def _function(label: Optional[str]) -> str:
    """A label as the `function` column shows it: namespace/name or name."""
    namespace, name = split_label(label)
    if name is None:
        return _UNLABELLED
    return name if namespace is None else f"{namespace}/{name}"


def _matches(label: Optional[str], function: Optional[str], namespace: Optional[str]) -> bool:
    """Whether label belongs to --function/--namespace (None: any). A name
    matches through function_label, so a name long enough to be shortened
    in its label matches too."""
    from . import _core

    label_namespace, name = split_label(label)
    if name is None:
        return False
    if namespace is not None and label_namespace != namespace:
        return False
    return function is None or label == _core.function_label(label_namespace, function)


def _cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args.store)
    entries = _entries(store)
    expired = sum(1 for e in entries if e[2] is not None and e[2] <= 0)
    live = [e for e in entries if e[2] is None or e[2] > 0]
    value_bytes = sum(e[1] for e in live)
    key_bytes = sum(len(e[0].encode("utf-8", "surrogatepass")) for e in live)
    with_ttl = sum(1 for e in live if e[2] is not None)
    groups: dict[Optional[str], list[int]] = {}
    for key, size, _, _, label in live:
        group = groups.setdefault(label, [0, 0])
        group[0] += 1
        group[1] += size + len(key.encode("utf-8", "surrogatepass"))
    per_function: list[dict[str, Any]] = []
    for label, (count, nbytes) in sorted(groups.items(), key=lambda g: (-g[1][1], g[0] or "")):
        namespace, name = split_label(label)
        per_function.append({
            "function": _function(label),
            "namespace": namespace,
            "name": name,
            "label": label,
            "entries": count,
            "bytes": nbytes,  # key + value bytes
        })
    tiers = store.tiers()
    stats = store.tier_stats()
    info: dict[str, Any] = {
        "store": store.describe(),
        "entries": len(live),
        "expired_not_removed": expired,
        "value_bytes": value_bytes,
        "key_bytes": key_bytes,
        "entries_with_ttl": with_ttl,
        # What each tier charges against its max_bytes (row overhead
        # included); 0 where the store does not keep it (Redis).
        "tiers": [
            {"store": t, "charged_bytes": s["bytes"], "entries": s["entries"]}
            for t, s in zip(tiers, stats)
        ],
        # Live entries by the label in their envelopes, largest first;
        # label None: unlabelled (written before labels, or not by memoize).
        "per_function": per_function,
        "hits_misses": None,
    }
    if args.json:
        json.dump(info, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"store:      {info['store']}\n")
    out.write(f"entries:    {len(live)}" + (f" (+{expired} expired, not yet removed)" if expired else "") + "\n")
    out.write(f"bytes:      {_human(value_bytes + key_bytes)} (values {_human(value_bytes)}, keys {_human(key_bytes)})\n")
    out.write(f"with ttl:   {with_ttl}\n")
    for tier in info["tiers"]:
        if tier["charged_bytes"]:
            out.write(f"charged:    {_human(tier['charged_bytes'])} in {tier['entries']} entries "
                      f"(with row overhead, against max_bytes) in {tier['store']}\n")
    if per_function:
        width = max(len(f["function"]) for f in per_function)
        out.write("functions:  (by the label sealed into each value; keys + values)\n")
        for f in per_function:
            out.write(f"  {f['function']:<{width}}  {f['entries']:>8} entries  {_human(f['bytes']):>10}\n")
    out.write("hits/misses: counted per process by f.cache_info(), not by the store\n")
    return 0


_SORTS = {
    "key": lambda e: e[0],
    "size": lambda e: -e[1],
    "idle": lambda e: -(e[3] if e[3] is not None else -1.0),
    "ttl": lambda e: e[2] if e[2] is not None else float("inf"),
}


def _cmd_ls(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args.store)
    entries = _entries(store)
    if args.function is not None or args.namespace is not None:
        entries = [e for e in entries if _matches(e[4], args.function, args.namespace)]
    entries.sort(key=_SORTS[args.sort])
    if args.limit is not None:
        entries = entries[: args.limit]
    if args.json:
        json.dump(
            [
                {"key": k, "value_bytes": s, "ttl_left": t, "idle": i, "label": label,
                 "function": _function(label)}
                for k, s, t, i, label in entries
            ],
            out,
            indent=2,
        )
        out.write("\n")
        return 0
    width = max([len(e[0]) for e in entries] + [3])
    out.write(f"{'KEY':<{width}}  {'SIZE':>10}  {'IDLE':>8}  {'EXPIRES IN':>10}  FUNCTION\n")
    for key, size, ttl, idle, label in entries:
        out.write(f"{key:<{width}}  {_human(size):>10}  {_duration(idle):>8}  "
                  f"{'never' if ttl is None else _duration(ttl):>10}  {_function(label)}\n")
    return 0


def _cmd_clear(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args.store)
    by_label = args.function is not None or args.namespace is not None
    if args.key and by_label:
        raise UsageError("--key and --function/--namespace do not go together")
    if args.key:
        present = 0
        for key in args.key:
            present += store.contains(key)
            store.delete(key)
        out.write(f"deleted {present} of {len(args.key)} keys from {store.describe()}\n")
        return 0
    progress = _Progress("clearing", sys.stderr)
    try:
        if by_label:
            # The labels present that match, then those labels' entries.
            labels = {e[4] for e in _entries(store) if _matches(e[4], args.function, args.namespace)}
            result = store.clear_labelled(sorted(lb for lb in labels if lb is not None),
                                          progress.callback())
            removed = result["removed"]
            for tier in result["unlisted"]:
                print(f"memokey cache clear: {tier} cannot list its entries: those only it "
                      "holds were left", file=sys.stderr)
        else:
            removed = store.clear(progress.callback())
    except ValueError as e:
        raise UsageError(str(e)) from e
    finally:
        progress.done()
    what = ""
    if args.function is not None:
        what += f" of function {args.function}"
    if args.namespace is not None:
        what += f" in namespace {args.namespace}"
    out.write(f"removed {removed} entries{what} from {store.describe()}\n")
    return 0


def _cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args.store)
    max_bytes = parse_size(args.max_bytes) if args.max_bytes is not None else None
    progress = _Progress("pruning", sys.stderr)
    try:
        result = store.prune(max_bytes, progress.callback())
    except ValueError as e:
        raise UsageError(str(e)) from e
    finally:
        progress.done()
    out.write(
        f"removed {result['expired']} expired and {result['evicted']} least recently used "
        f"entries; {result['entries_left']} entries ({_human(result['bytes_left'])}) left "
        f"in {store.describe()}\n"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memokey",
        description="Manage memokey caches (the stores @memokey.memoize keeps results in).",
        epilog="Without --store: $MEMOKEY_STORE, else a disk store in $MEMOKEY_CACHE_DIR, "
        "$XDG_CACHE_HOME/memokey or ~/.cache/memokey. Exit status: 0 done, 1 the store "
        "failed, 2 bad usage.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    cache = commands.add_parser("cache", help="see, list, clear or prune a cache")
    actions = cache.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    def action(name: str, help: str, run: Callable[[argparse.Namespace, TextIO], int]) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help)
        p.add_argument("--store", metavar="URL", help="a store URL (default: the default store)")
        p.set_defaults(run=run)
        return p

    def by_function(p: argparse.ArgumentParser, verb: str) -> None:
        p.add_argument("--function", metavar="NAME",
                       help=f"{verb} the entries of this function only: its memoize name "
                       "('module:qualname' or name=; f.cache_parameters()['name'])")
        p.add_argument("--namespace", metavar="NS",
                       help=f"{verb} the entries of functions memoized with namespace=NS only")

    p = action("info", "entries, bytes, entries and bytes per function", _cmd_info)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = action("ls", "list the entries: key, size, idle time, remaining ttl, function", _cmd_ls)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--limit", type=int, metavar="N", help="at most N entries")
    p.add_argument("--sort", choices=sorted(_SORTS), default="key",
                   help="key (default), size (largest first), idle (least recently used "
                   "first), ttl (expiring first)")
    by_function(p, "list")
    p = action("clear", "remove every entry (or the --key ones, or one function's)", _cmd_clear)
    p.add_argument("--key", action="append", metavar="HEX",
                   help="remove only this entry (the hex key f.key(...) gives); repeatable")
    by_function(p, "remove")
    p = action("prune", "remove expired entries, and with --max-bytes the least recently "
               "used ones until the rest fits", _cmd_prune)
    p.add_argument("--max-bytes", metavar="SIZE",
                   help="keep at most this many key + value bytes (500M, 2G, ...)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``memokey`` command with *argv* (default: ``sys.argv[1:]``);
    returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)  # bad usage: exits 2 with argparse's message
    try:
        return int(args.run(args, sys.stdout))
    except UsageError as e:
        parser.exit(2, f"memokey {args.command} {args.action}: error: {e}\n")
    except OSError as e:
        print(f"memokey {args.command} {args.action}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0  # unreachable: parser.exit raises SystemExit


if __name__ == "__main__":
    sys.exit(main())
