"""examples/docbuild shares rendered pages through memokeyd.

A cold build renders every page and stores it; a second build from a clean
copy of the sources, in another process with no local state, fetches every
page and renders none, with byte-identical output. Renaming one page
re-renders exactly that page and the pages that link to it. Counts are
asserted; times are only printed (speed is the benchmarks' business)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mkd import ROOT, Memokeyd

DOCBUILD = ROOT / "examples/docbuild/docbuild.py"
TOKEN = "docbuild-writer-token"
PAGES = 40


@pytest.fixture(scope="module")
def server():
    config = f"""
[namespaces.docbuild]
anonymous = "read"

[[tokens]]
name = "docs-ci"
token = "{TOKEN}"
access = "read-write"
namespaces = ["docbuild"]
"""
    with Memokeyd(config=config) as s:
        yield s


def docbuild(*args: str, cwd: Path) -> dict:
    result = subprocess.run([sys.executable, str(DOCBUILD), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_build_fetches_every_page(server, tmp_path, capsys):
    cache = f"{server.url}/v1/docbuild"
    first_checkout = tmp_path / "checkout-1"
    first_checkout.mkdir()
    docbuild("sample", "src", "--pages", str(PAGES), cwd=first_checkout)

    cold = docbuild("build", "src", "out", "--cache", cache, "--token", TOKEN, cwd=first_checkout)
    assert cold["pages"] == PAGES
    assert cold["rendered"] == PAGES and cold["stored"] == PAGES and cold["fetched"] == 0, cold
    assert cold["cache_errors"] == 0

    # A clean checkout elsewhere, a new process, no token (anonymous read).
    second_checkout = tmp_path / "checkout-2"
    second_checkout.mkdir()
    shutil.copytree(first_checkout / "src", second_checkout / "src")
    warm = docbuild("build", "src", "out", "--cache", cache, cwd=second_checkout)
    assert warm["fetched"] == PAGES and warm["rendered"] == 0, warm
    assert warm["cache_errors"] == 0
    assert tree(second_checkout / "out") == tree(first_checkout / "out")
    with capsys.disabled():
        ratio = cold["seconds"] / max(warm["seconds"], 1e-6)
        print(f"\ndocbuild: cold {cold['seconds']:.3f} s, from memokeyd {warm['seconds']:.3f} s "
              f"({ratio:.0f}x, {PAGES} pages, key {warm['key']})")

    # Rename one page: it and the pages linking to it are rendered again, nothing else.
    target = "api/page-05.md"
    source = second_checkout / "src" / target
    text = source.read_text()
    first_line = text.splitlines()[0]
    source.write_text(text.replace(first_line, "# A brand new title", 1))
    linking = referrers(second_checkout / "src", target)
    assert linking, "the sample links to every page it renames"
    renamed = docbuild("build", "src", "out", "--cache", cache, "--token", TOKEN, cwd=second_checkout)
    assert renamed["rendered"] == 1 + len(linking), (renamed, linking)
    assert renamed["fetched"] == PAGES - renamed["rendered"]
    assert "A brand new title" in (second_checkout / "out/api/page-05.html").read_text()
    for page in linking:
        html_path = second_checkout / "out" / (page.rsplit(".", 1)[0] + ".html")
        assert "A brand new title" in html_path.read_text(), page

    # Another configuration is another set of pages.
    (second_checkout / "conf.json").write_text(json.dumps({"print_widths": [70]}))
    other = docbuild("build", "src", "out-conf", "--cache", cache, "--token", TOKEN, "--config", "conf.json",
                     cwd=second_checkout)
    assert other["rendered"] == PAGES and other["fetched"] == 0


def referrers(src: Path, target: str) -> list[str]:
    """Pages (other than target) whose links resolve to target, per the builder itself."""
    sys.path.insert(0, str(DOCBUILD.parent))
    try:
        import docbuild as builder
    finally:
        sys.path.pop(0)
    pages = builder.scan(src)
    return [p.path for p in pages.values() if target in p.links and p.path != target]


def test_a_dead_cache_does_not_fail_the_build(tmp_path):
    checkout = tmp_path / "c"
    checkout.mkdir()
    docbuild("sample", "src", "--pages", "4", cwd=checkout)
    result = docbuild("build", "src", "out", "--cache", "http://127.0.0.1:9/v1/docbuild", cwd=checkout)
    assert result["rendered"] == 4 and result["cache_errors"] >= 4
