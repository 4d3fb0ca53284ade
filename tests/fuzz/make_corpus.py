#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (checked in; re-run
after changing the vectors). Standard library only. Files are named by the
SHA-1 of their content, as libFuzzer names the inputs it adds."""

import base64
import hashlib
import hmac
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors"
SECRET = b"memokey-fuzz-secret-0123456789abcdef"  # envelope.cc's FixedSecret


def write(target: str, blobs):
    out = HERE / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for blob in blobs:
        (out / hashlib.sha1(blob).hexdigest()).write_bytes(blob)


def cbor_seeds():
    seeds = []
    for v in json.loads((VECTORS / "canonical-v1.json").read_text())["vectors"]:
        seeds.append(bytes.fromhex(v["hex"]))
    for v in json.loads((VECTORS / "cbor-appendix-a.json").read_text()):
        seeds.append(base64.b64decode(v["cbor"]))
    # Non-canonical but well-formed, and malformed.
    seeds += [bytes.fromhex(h) for h in [
        "bf6346756ef563416d7421ff",  # indefinite map
        "1800", "190001", "fa3fc00000", "fb3ff8000000000000", "a2616201616101",
        "a2616101616102", "5f42010243030405ff", "7f657374726561646d696e67ff",
        "d9010283010203", "c249000000000000000001", "9fff", "f818", "1c", "ff",
        "81" * 40 + "00", "5b" + "ff" * 8, "62c328", "d9e0c2830102",
    ]]
    return seeds


def json_seeds():
    docs = [
        '{"b": 1, "a": [1, 2.5]}', "[]", "{}", "null", "true", "0", "-0", "1e400", "-1.5e-300",
        '"\\u00e9\\ud83d\\ude00"', "18446744073709551616", "-18446744073709551617",
        '{"a": {"b": {"c": [null, false, "x"]}}}', '{"a": 1, "a": 2}', '[1, 2, 3.0, 4.5e10]',
        '"\\ud800"', "[" * 100 + "]" * 100, '  {"k": "v"}  ', "0.1", "123456789012345678901234567890",
    ]
    for v in json.loads((VECTORS / "cbor-appendix-a.json").read_text()):
        if "decoded" in v:
            docs.append(json.dumps(v["decoded"]))
    return [d.encode() for d in docs]


def seal(key: bytes, codec: int, payload: bytes) -> bytes:
    # docs/FORMAT.md / envelope.h layout, uncompressed (flags 0).
    head = b"MKEV" + bytes([1, codec, 0, 0]) + struct.pack("<QQ", len(payload), len(payload))
    body = head + payload
    mac = hmac.new(SECRET, struct.pack("<Q", len(key)) + key + body, hashlib.sha256).digest()
    return body + mac


def envelope_seeds():
    seeds = []
    for codec, payload in [(0, b""), (1, bytes.fromhex("a26161016162820203")), (2, b"\x80\x05N."),
                           (0, b"x" * 300)]:
        sealed = seal(b"fuzz/key", codec, payload)
        seeds.append(b"\x00" + sealed)                 # opens
        seeds.append(b"\x02" + sealed[:-1])            # truncated
        flipped = bytearray(sealed)
        flipped[len(flipped) // 2] ^= 1
        seeds.append(b"\x04" + bytes(flipped))         # tampered
        seeds.append(b"\x06" + seal(b"fuzz/other", codec, payload))  # other key
        # Seal mode: [odd][codec][threshold/16][key_len][key+payload]
        seeds.append(bytes([1, codec, 0, 7]) + b"ns/key1" + payload)
        seeds.append(bytes([3, codec, 255, 3]) + b"abc" + payload * 3)
    seeds.append(b"\x00MKEV")
    return seeds


def http_seeds():
    w = "Authorization: Bearer writer-secret-1\r\n"
    r = "Authorization: Bearer reader-secret-1\r\n"
    a = "Authorization: Bearer all-namespaces-1\r\n"
    basic = "Authorization: Basic " + base64.b64encode(b"x:writer-secret-1").decode() + "\r\n"
    reqs = [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /readyz HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        f"PUT /v1/team/a/b HTTP/1.1\r\n{w}Content-Length: 5\r\n\r\nvalue"
        f"GET /v1/team/a/b HTTP/1.1\r\n{r}\r\n",
        f"PUT /ccache/ab/cdef HTTP/1.1\r\n{basic}Content-Length: 1\r\n\r\nx"
        f"HEAD /ccache/ab/cdef HTTP/1.1\r\n{basic}\r\n"
        f"DELETE /ccache/ab/cdef HTTP/1.1\r\n{basic}\r\n",
        f"PUT /v1/any/k HTTP/1.1\r\n{a}X-Memokey-TTL: 10s\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
        f"PUT /v1/team/k HTTP/1.1\r\n{r}Content-Length: 1\r\n\r\nx",
        "PUT /v1/team/k HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        "GET /v1/public/k HTTP/1.1\r\n\r\n",
        f"PUT /v1/short/k HTTP/1.1\r\n{a}X-Memokey-TTL: 1h\r\nContent-Length: 2\r\n\r\nhi",
        "GET /v1/team/../etc/passwd HTTP/1.1\r\n\r\n",
        "GET /v1/team/%2e%2e/x HTTP/1.1\r\n\r\n",
        "GET /v1/team//x HTTP/1.1\r\n\r\n",
        "GET /v1/team/x?y=1 HTTP/1.1\r\n\r\n",
        f"PUT /v1/team/k HTTP/1.1\r\n{w}{w}Content-Length: 0\r\n\r\n",
        f"PUT /v1/team/k HTTP/1.1\r\n{w}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "POST /v1/team/k HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "GET http://example.com/ HTTP/1.1\r\n\r\n",
        "GET /v1/" + "a" * 70 + "/k HTTP/1.1\r\n\r\n",
        "GET /v1/team/" + "k" * 600 + " HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "BREW /pot HTTP/1.1\r\n\r\n",
        # sccache's WebDAV (server/webdav.h).
        f"PROPFIND /team/ HTTP/1.1\r\n{r}Depth: 0\r\nContent-Length: 8\r\n\r\n<D:a/>\r\n"
        f"PROPFIND /team/a/b HTTP/1.1\r\n{r}Depth: 1\r\n\r\n",
        f"MKCOL /team/a/b/ HTTP/1.1\r\n{w}\r\n"
        f"MKCOL /team/a/b/ HTTP/1.1\r\n{r}\r\nPROPFIND / HTTP/1.1\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
    ]
    return [q.encode() for q in reqs]


def main():
    write("decode_strict", cbor_seeds())
    write("canonicalize", cbor_seeds())
    write("cli_json", json_seeds())
    write("envelope", envelope_seeds())
    write("server_request", http_seeds())


if __name__ == "__main__":
    main()
