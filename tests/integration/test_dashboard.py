"""The live dashboard at "/" in a real browser: headless Chromium loads it
from a memokeyd under traffic (hits and misses in two namespaces, several
protocols and tokens), takes a screenshot, then renders it once more after the
traffic stops, and every number the page shows is checked against /metrics.
No secret may appear in the page or in /dashboard.json.

Set DASHBOARD_SCREENSHOT=path to keep the screenshot (docs/dashboard.png is
made that way)."""

from __future__ import annotations

import http.client
import os
import random
import shutil
import struct
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mkd import Memokeyd, metric, request, slack

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Skipped on a machine without Chromium, never in CI (scripts/setup installs it there).
pytestmark = pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"),
                                reason="chromium is missing (scripts/setup installs it)")

WRITER = "ci-writer-secret-0123"
READER = "dev-reader-secret-0123"
CONFIG = f"""
[namespaces.beta]
anonymous = "read"

[namespaces.alpha]
max_bytes = "256KiB"

[[tokens]]
name = "ci-writer"
token = "{WRITER}"
access = "read-write"
namespaces = ["alpha", "beta"]

[[tokens]]
name = "dev-reader"
token = "{READER}"
access = "read"
namespaces = ["alpha", "beta"]
"""


class Client:
    def __init__(self, server: Memokeyd, token: str | None):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=slack(20))
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: bytes | None = None) -> int:
        self.conn.request(method, path, body=body, headers=self.headers)
        r = self.conn.getresponse()
        r.read()
        return r.status


def traffic(server: Memokeyd, stop: threading.Event, errors: list[str]) -> None:
    """Builds warming a cache: mostly misses at first, then mostly hits.

    alpha: memokey's /v1 API and Bazel's ac/ paths; beta: ccache's xx/rest
    layout and Gradle's hex keys, read anonymously and by the reader token."""
    rng = random.Random(4)
    writer, reader, anonymous = Client(server, WRITER), Client(server, READER), Client(server, None)
    started = time.monotonic()
    n = 0
    try:
        while not stop.is_set():
            warm = min(1.0, (time.monotonic() - started) / slack(4))
            n += 1
            key_space = max(8, int(400 * (1 - warm)) + 8)
            # alpha: read, and write what missed.
            k = rng.randrange(key_space)
            path = f"/v1/alpha/obj-{k}" if n % 3 else f"/alpha/ac/{k:064x}"
            if writer.call("GET", path) == 404:
                if writer.call("PUT", path, b"a" * rng.randrange(500, 3000)) != 201:
                    errors.append("PUT " + path)
            # beta: readers that never write: the writer fills half the keys.
            k = rng.randrange(key_space)
            path = f"/beta/{k % 97:02x}/{k:030x}" if n % 2 else f"/beta/{k:032x}"
            if k % 2 == 0 and rng.random() < 0.3:
                writer.call("PUT", path, b"b" * 800)
            (reader if n % 4 else anonymous).call("GET", path)
            if n % 50 == 0:
                time.sleep(0.01)  # let the dashboard's polls in
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))


def chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
         "--window-size=1280,900", *extra, url],
        capture_output=True, timeout=slack(90))


class Dom(HTMLParser):
    """The table cells of the rendered page: rows[(kind, name)][field] = text,
    plus elements by id."""

    def __init__(self):
        super().__init__()
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self.ids: dict[str, str] = {}
        self.attrs: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        self.body_attrs: dict[str, str] = {}
        self._row: tuple[str, str] | None = None
        self._field: str | None = None
        self._id: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body_attrs = a
        if tag == "tr":
            for kind in ("data-ns", "data-protocol", "data-client"):
                if kind in a:
                    self._row = (kind[5:], a[kind])
                    self.rows[self._row] = {}
                    self.attrs[self._row] = {}
        if tag == "td" and self._row and "data-field" in a:
            self._field = a["data-field"]
            self.attrs[self._row][self._field] = a
            self._text = []
        if "id" in a and tag in ("div", "span"):
            self._id = a["id"]
            self._text = []

    def handle_data(self, data):
        if self._field is not None or self._id is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._field is not None and self._row:
            self.rows[self._row][self._field] = "".join(self._text).strip()
            self._field = None
        if tag in ("div", "span") and self._id is not None:
            self.ids[self._id] = "".join(self._text).strip()
            self._id = None
        if tag == "tr":
            self._row = None


def number(text: str) -> int:
    return int(text.replace(",", ""))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_dashboard_in_headless_chromium(tmp_path):
    assert CHROMIUM, "chromium is missing: scripts/setup installs it"
    with Memokeyd("--data-dir", str(tmp_path / "data"), config=CONFIG) as server:
        stop = threading.Event()
        errors: list[str] = []
        worker = threading.Thread(target=traffic, args=(server, stop, errors))
        worker.start()
        try:
            time.sleep(slack(5))  # a few history samples, the ratio rising
            # 1. Under traffic: the screenshot.
            shot = tmp_path / "dashboard.png"
            r = chromium(server.url + "/", tmp_path, f"--screenshot={shot}")
            assert shot.exists(), r.stderr.decode(errors="replace")[-2000:]
        finally:
            stop.set()
            worker.join()
        assert not errors, errors[:5]
        assert png_size(shot) == (1280, 900)
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["DASHBOARD_SCREENSHOT"])

        # 2. Traffic stopped: what the page shows must be what /metrics says.
        r = chromium(server.url + "/", tmp_path, "--dump-dom")
        html = r.stdout.decode()
        assert r.returncode == 0 and "<tbody" in html, r.stderr.decode(errors="replace")[-2000:]
        dom = Dom()
        dom.feed(html)
        assert int(dom.body_attrs.get("data-updates", "0")) >= 2  # it refreshes itself

        def ns(name: str, field: str) -> float:
            return metric(server, f'memokeyd_namespace_{field}{{namespace="{name}"}}')

        for name in ("alpha", "beta"):
            row = dom.rows[("ns", name)]
            assert number(row["hits"]) == ns(name, "hits_total") > 0
            assert number(row["misses"]) == ns(name, "misses_total") > 0
            assert number(row["puts"]) == ns(name, "puts_total") > 0
            assert number(row["refused"]) == ns(name, "refused_writes_total")
            hits, misses = ns(name, "hits_total"), ns(name, "misses_total")
            # One decimal, as the page rounds it (JavaScript rounds ties up).
            assert abs(float(row["ratio"].rstrip("%")) - 100 * hits / (hits + misses)) <= 0.0501
        alpha = dom.attrs[("ns", "alpha")]["bytes"]
        assert int(alpha["data-bytes"]) == ns("alpha", "bytes") > 0
        assert int(alpha["data-quota"]) == ns("alpha", "quota_bytes") == 256 << 10
        assert number(dom.rows[("ns", "alpha")]["entries"]) == ns("alpha", "entries") > 0
        assert dom.rows[("ns", "beta")]["bytes"] == "shared store"

        for protocol in ("memokey", "bazel", "ccache", "gradle"):
            row = dom.rows[("protocol", protocol)]
            assert number(row["requests"]) == metric(
                server, f'memokeyd_protocol_requests_total{{protocol="{protocol}"}}') > 0
            assert number(row["hits"]) == metric(
                server, f'memokeyd_protocol_hits_total{{protocol="{protocol}"}}')
        for client in ("ci-writer", "dev-reader", "(anonymous)"):
            assert number(dom.rows[("client", client)]["requests"]) == metric(
                server, f'memokeyd_token_requests_total{{token="{client}"}}') > 0
        assert number(dom.ids["kpi-hits"]) == metric(server, "memokeyd_cache_hits_total")
        assert number(dom.ids["kpi-misses"]) == metric(server, "memokeyd_cache_misses_total")

        # The chart has a line per namespace and one for all of them, and
        # (in its other view) one per protocol that was used.
        for series in ("all", "alpha", "beta", "memokey", "bazel", "ccache", "gradle"):
            assert f'data-series="{series}"' in html
        assert 'data-series="nx"' not in html

        # Names only: no secret in the page, its data, or the old status page.
        data = request(server, "GET", "/dashboard.json")
        assert data.status == 200 and data.headers["content-type"] == "application/json"
        for text in (html, data.body.decode(), request(server, "GET", "/status").body.decode()):
            assert WRITER not in text and READER not in text
        assert '"ci-writer"' in data.body.decode()
        # Non-browser clients keep a plain status page.
        status = request(server, "GET", "/status")
        assert status.status == 200 and b"<script" not in status.body


def test_requests_are_filed_under_their_protocol_and_namespace():
    """Turborepo's team and Nx's fixed namespace, as the dashboard groups them."""
    with Memokeyd() as server:
        assert request(server, "PUT", "/v8/artifacts/0a1b2c?teamId=web", b"t",
                       {"x-artifact-duration": "12"}).status == 202
        assert request(server, "GET", "/v8/artifacts/0a1b2c?teamId=web").status == 200
        assert request(server, "GET", "/v8/artifacts/ffff?slug=web").status == 404
        assert request(server, "PUT", "/v1/cache/00ff", b"n").status == 200
        assert request(server, "GET", "/v1/cache/00ff").status == 200
        assert request(server, "GET", "/v1/plain/k").status == 404

        def series(name: str, label: str, value: str) -> float:
            return metric(server, f'{name}{{{label}="{value}"}}')

        assert series("memokeyd_protocol_requests_total", "protocol", "turborepo") == 3
        assert series("memokeyd_protocol_hits_total", "protocol", "turborepo") == 1
        assert series("memokeyd_protocol_requests_total", "protocol", "nx") == 2
        assert series("memokeyd_protocol_requests_total", "protocol", "memokey") == 1
        assert series("memokeyd_namespace_requests_total", "namespace", "web") == 3
        assert series("memokeyd_namespace_misses_total", "namespace", "web") == 1
        assert series("memokeyd_namespace_requests_total", "namespace", "cache") == 2
        # Open mode: every request is anonymous.
        assert series("memokeyd_token_requests_total", "token", "(anonymous)") == 6
