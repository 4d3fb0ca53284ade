"""A Redis store never serves bytes other than the ones stored: values damaged
in Redis behind the library's back are misses, counted in stats()["damaged"],
and deleted. Redis is reached directly through a minimal RESP client (no
Redis client package is a test dependency)."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

import memokey

FRAME_BYTES = 3 + 8  # "mk1" + checksum ahead of every stored value


class Resp:
    """Just enough RESP2 for GET/SET/SETRANGE/EXISTS, binary-safe."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.prefix = parse_qs(parts.query)["prefix"][0]
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def key(self, store_key: str) -> bytes:
        return f"{self.prefix}{{{store_key}}}".encode()

    def __call__(self, *args: bytes | str | int):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(f"*{len(parts)}\r\n".encode()
                          + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        raise RuntimeError(f"unexpected reply {line!r}")


@pytest.fixture
def redis(redis_url):
    client = Resp(redis_url)
    yield client
    client.close()


def flip(redis: Resp, key: str, offset: int) -> None:
    """SETRANGE of one byte, changed: same length, same TTL."""
    rkey = redis.key(key)
    old = redis("GETRANGE", rkey, offset, offset)
    assert len(old) == 1
    redis("SETRANGE", rkey, offset, bytes([old[0] ^ 0x01]))


def test_stored_values_are_framed(redis_url, redis):
    store = memokey.open_store(redis_url)
    store.put("k", b"value")
    raw = redis("GET", redis.key("k"))
    assert raw[:3] == b"mk1" and raw[FRAME_BYTES:] == b"value"


def test_damaged_value_is_a_counted_miss_and_deleted(redis_url, redis):
    store = memokey.open_store(redis_url)
    value = bytes(range(256)) * 8
    store.put("k", value)
    assert store.get("k") == value
    flip(redis, "k", FRAME_BYTES + 1000)
    assert redis("EXISTS", redis.key("k")) == 1
    assert store.get("k") is None
    s = store.stats()
    assert s["damaged"] == 1 and s["misses"] == 1 and s["hits"] == 1 and s["errors"] == 0
    assert redis("EXISTS", redis.key("k")) == 0
    # Deleted: the next read is an ordinary miss, and the key is usable again.
    assert store.get("k") is None
    assert store.stats()["damaged"] == 1
    store.put("k", value)
    assert store.get("k") == value


@pytest.mark.parametrize("damage", ["checksum", "magic", "unframed", "moved", "truncated"])
def test_every_kind_of_damage_is_a_miss(redis_url, redis, damage):
    store = memokey.open_store(redis_url)
    value = b"the stored bytes"
    store.put("k", value, ttl=3600)
    rkey = redis.key("k")
    if damage == "checksum":
        flip(redis, "k", 3)
    elif damage == "magic":
        flip(redis, "k", 0)
    elif damage == "unframed":  # what a version without frames wrote
        redis("SET", rkey, value)
    elif damage == "moved":  # a valid frame, of another key
        store.put("other", value)
        redis("SET", rkey, redis("GET", redis.key("other")))
    else:
        redis("SET", rkey, redis("GET", rkey)[:-1])
    assert store.get("k") is None
    assert store.stats()["damaged"] == 1
    assert redis("EXISTS", rkey) == 0
    if damage == "moved":
        assert store.get("other") == value


def test_get_many_serves_the_good_and_drops_the_damaged(redis_url, redis):
    store = memokey.open_store(redis_url)
    values = {f"k{i}": bytes([i]) * (20 + i) for i in range(12)}
    for key, value in values.items():
        store.put(key, value)
    damaged = {"k2", "k5", "k11"}
    for key in damaged:
        flip(redis, key, FRAME_BYTES + 7)
    keys = list(values) + ["absent"]
    got = store.get_many(keys)
    assert got == [None if k in damaged else values.get(k) for k in keys]
    s = store.stats()
    assert s["damaged"] == 3 and s["hits"] == 9 and s["misses"] == 4
    assert [redis("EXISTS", redis.key(k)) for k in sorted(damaged)] == [0, 0, 0]
    assert redis("EXISTS", redis.key("k0")) == 1
