#!/usr/bin/env python3
"""docbuild — a small documentation builder in the spirit of Sphinx that shares
its rendered pages through memokeyd.

    python3 docbuild.py sample DIR [--pages 40]           # write a sample source tree
    python3 docbuild.py build SRC OUT --cache http://127.0.0.1:8080/v1/docbuild [--token T]

Sources are Markdown (*.md) and a reST-ish dialect (*.rst). Rendering a page is
deliberately expensive, as real builders are (Sphinx spends its time in
docutils, highlighting and cross-reference resolution); here the cost is real
CPU work: inline markup, a syntax highlighter, and a "print layout" that
breaks every paragraph into lines of minimum raggedness by dynamic programming
at several widths (Knuth-Plass style, O(words^2) per paragraph).

What a page's HTML depends on — and therefore its cache key:
  * the builder version (a new builder renders differently),
  * the configuration (project name, layout widths, ...),
  * the page's path (relative links are computed from it) and source text,
  * the titles of the pages it links to: a link with no text shows the target
    page's title, so renaming a page must re-render every page that links to
    it — and nothing else.
The key is memokey.hexkey of that material when the memokey package is
installed (canonical CBOR + XXH3-128: the same key whatever order the material
was built in), else SHA-256 of canonical JSON.

Pages go to and come from memokeyd with urllib (standard library only). A cache
that is down, slow or refuses writes never fails the build: it only makes it
slower. The last line printed is a JSON summary:
    {"pages": 40, "rendered": 0, "fetched": 40, "stored": 0, "cache_errors": 0, "seconds": 0.05}
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import posixpath
import random
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BUILDER_VERSION = "docbuild/1.0"
DEFAULT_CONFIG = {
    "project": "Sample Project",
    "print_widths": [56, 64, 72, 80],  # the layout pass runs once per width
    "smartquotes": True,
    "highlight": True,
}

try:  # the memokey Python package, when installed
    import memokey

    def content_key(material: dict) -> str:
        return memokey.hexkey(material, namespace="docbuild")

    KEY_SCHEME = "memokey.hexkey"
except ImportError:  # pragma: no cover - depends on the environment
    def content_key(material: dict) -> str:
        canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    KEY_SCHEME = "sha256(json)"


# --- Sources ---------------------------------------------------------------------

class Page:
    def __init__(self, path: str, text: str):
        self.path = path  # relative, with '/', e.g. "guide/intro.md"
        self.text = text
        self.kind = "rst" if path.endswith(".rst") else "md"
        self.title = title_of(text, self.kind) or path
        self.links: list[str] = []  # resolved by scan, once every page is known

    @property
    def output(self) -> str:
        return posixpath.splitext(self.path)[0] + ".html"


def title_of(text: str, kind: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if kind == "md" and line.startswith("# "):
            return line[2:].strip()
        if kind == "rst" and i + 1 < len(lines) and line.strip() and re.fullmatch(r"=+", lines[i + 1].strip()):
            return line.strip()
    return None


MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
RST_DOC = re.compile(r":doc:`([^`<]*?)(?:\s*<([^>]+)>)?`")


def resolve(from_path: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(from_path), target))


def doc_target(from_path: str, name: str, known) -> str:
    """A :doc: reference names a document without its extension."""
    base = resolve(from_path, name)
    for ext in (".rst", ".md"):
        if base + ext in known:
            return base + ext
    return base + ".rst"


def links_of(text: str, kind: str, path: str, known) -> list[str]:
    targets = []
    if kind == "md":
        for _, target in MD_LINK.findall(text):
            if not re.match(r"[a-z]+://", target):
                targets.append(resolve(path, target))
    else:
        for label, target in RST_DOC.findall(text):
            targets.append(doc_target(path, (target or label).strip(), known))
    return sorted(set(targets))


def scan(src: Path) -> dict[str, Page]:
    pages = {}
    for file in sorted(src.rglob("*")):
        if file.suffix in (".md", ".rst") and file.is_file():
            rel = file.relative_to(src).as_posix()
            pages[rel] = Page(rel, file.read_text(encoding="utf-8"))
    for page in pages.values():
        page.links = links_of(page.text, page.kind, page.path, pages)
    return pages


def page_key(page: Page, pages: dict[str, Page], config: dict) -> str:
    refs = [[target, pages[target].title if target in pages else None] for target in page.links]
    return content_key({
        "builder": BUILDER_VERSION,
        "config": config,
        "path": page.path,
        "source": page.text,
        "refs": refs,
    })


# --- Rendering (the expensive part) -------------------------------------------------

KEYWORDS = {"def", "return", "if", "else", "for", "while", "in", "import", "from", "class", "int", "void",
            "static", "const", "struct", "let", "fn", "true", "false", "None", "self"}


def highlight(code: str) -> str:
    out = []
    for token in re.findall(r"\s+|\w+|\"[^\"]*\"|#[^\n]*|.", code):
        if token in KEYWORDS:
            out.append(f'<span class="k">{token}</span>')
        elif token.isdigit():
            out.append(f'<span class="n">{token}</span>')
        elif token.startswith('"'):
            out.append(f'<span class="s">{html.escape(token)}</span>')
        elif token.startswith("#"):
            out.append(f'<span class="c">{html.escape(token)}</span>')
        else:
            out.append(html.escape(token))
    return "".join(out)


def smartquotes(text: str) -> str:
    text = re.sub(r'(^|[\s(])"', "\\1\u201c", text)
    text = text.replace('"', "\u201d")
    return re.sub(r"(\w)'(\w)", "\\1\u2019\\2", text)


def break_lines(words: list[str], width: int) -> list[str]:
    """Minimum-raggedness line breaking: the sum over lines (but the last) of
    the squared slack is minimal. Quadratic dynamic programming on purpose."""
    n = len(words)
    lengths = [len(w) for w in words]
    best = [0.0] + [float("inf")] * n
    choice = [0] * (n + 1)
    for j in range(1, n + 1):
        line = -1
        for i in range(j, 0, -1):
            line += lengths[i - 1] + 1
            if line > width and i < j:
                cost = float("inf")
            else:
                slack = max(0, width - line)
                cost = 0 if j == n else slack * slack
            total = best[i - 1] + cost
            if total < best[j]:
                best[j] = total
                choice[j] = i - 1
    lines = []
    j = n
    while j > 0:
        i = choice[j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1]


def inline(text: str, page: Page, pages: dict[str, Page], config: dict) -> str:
    def link(label: str, target: str, doc: bool = False) -> str:
        if doc:
            resolved = doc_target(page.path, target, pages)
        else:
            resolved = resolve(page.path, target) if not re.match(r"[a-z]+://", target) else None
        if resolved is None:
            return f'<a href="{html.escape(target)}">{html.escape(label or target)}</a>'
        other = pages.get(resolved)
        title = other.title if other else resolved
        href = posixpath.relpath(posixpath.splitext(resolved)[0] + ".html", posixpath.dirname(page.path) or ".")
        cls = "" if other else ' class="broken"'
        return f'<a href="{html.escape(href)}" title="{html.escape(title)}"{cls}>{html.escape(label or title)}</a>'

    placeholders: list[str] = []

    def keep(fragment: str) -> str:
        placeholders.append(fragment)
        return f"\x00{len(placeholders) - 1}\x00"

    if page.kind == "md":
        text = MD_LINK.sub(lambda m: keep(link(m.group(1), m.group(2))), text)
    else:
        text = RST_DOC.sub(lambda m: keep(link(m.group(1).strip() if m.group(2) else "",
                                               (m.group(2) or m.group(1)).strip(), doc=True)), text)
    text = re.sub(r"`([^`]+)`", lambda m: keep(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = html.escape(text, quote=False)
    if config.get("smartquotes"):
        text = smartquotes(text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: placeholders[int(m.group(1))], text)


def render(page: Page, pages: dict[str, Page], config: dict) -> str:
    lines = page.text.splitlines()
    body: list[str] = []
    toc: list[tuple[int, str, str]] = []
    paragraph: list[str] = []

    def flush():
        if not paragraph:
            return
        text = " ".join(paragraph)
        paragraph.clear()
        body.append(f"<p>{inline(text, page, pages, config)}</p>")
        words = re.sub(r"\s+", " ", text).split(" ")
        for width in config["print_widths"]:
            layout = "\n".join(break_lines(words, width))
            body.append(f'<pre class="print w{width}">{html.escape(layout)}</pre>')

    i = 0
    while i < len(lines):
        line = lines[i]
        heading = None
        if page.kind == "md":
            m = re.match(r"(#{1,6}) (.*)", line)
            if m:
                heading = (len(m.group(1)), m.group(2).strip())
        elif i + 1 < len(lines) and line.strip() and re.fullmatch(r"([=\-~])\1*", lines[i + 1].strip() or "x"):
            heading = ({"=": 1, "-": 2, "~": 3}[lines[i + 1].strip()[0]], line.strip())
            i += 1
        if heading:
            flush()
            level, text = heading
            anchor = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
            toc.append((level, anchor, text))
            body.append(f'<h{level} id="{anchor}">{inline(text, page, pages, config)}</h{level}>')
        elif line.startswith("```") or line.rstrip().endswith("::"):
            flush()
            if line.rstrip().endswith("::") and not line.startswith("```"):
                intro = line.rstrip()[:-1]
                if intro.strip():
                    body.append(f"<p>{inline(intro, page, pages, config)}</p>")
                code = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or lines[i].startswith("   ")):
                    code.append(lines[i][3:])
                    i += 1
                i -= 1
            else:
                code = []
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    code.append(lines[i])
                    i += 1
            source = "\n".join(code).strip("\n")
            rendered = highlight(source) if config.get("highlight") else html.escape(source)
            body.append(f"<pre class=\"code\">{rendered}</pre>")
        elif re.match(r"\s*[-*] ", line):
            flush()
            item = re.sub(r"^\s*[-*] ", "", line)
            body.append(f"<li>{inline(item, page, pages, config)}</li>")
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
        i += 1
    flush()

    nav = "".join(f'<li class="l{level}"><a href="#{a}">{html.escape(t)}</a></li>' for level, a, t in toc)
    project = html.escape(config["project"])
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(page.title)} — {project}"
            f"</title></head>\n<body><nav><ul>{nav}</ul></nav>\n<main>\n" + "\n".join(body) +
            f"\n</main><footer>{project} · built by {BUILDER_VERSION}</footer></body></html>\n")


# --- The shared cache -----------------------------------------------------------------

class RemoteCache:
    """GET/PUT of rendered pages on memokeyd, e.g. base http://host:8080/v1/docbuild."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 10.0):
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.errors = 0

    def get(self, key: str) -> bytes | None:
        request = urllib.request.Request(f"{self.base}/{key}", headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code != 404:
                self.errors += 1
            return None
        except OSError:
            self.errors += 1
            return None

    def put(self, key: str, value: bytes) -> bool:
        request = urllib.request.Request(f"{self.base}/{key}", data=value, method="PUT",
                                         headers={**self.headers, "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return 200 <= response.status < 300
        except OSError:  # HTTPError included: a refused write is not a failed build
            self.errors += 1
            return False


def build(src: Path, out: Path, config: dict, cache: RemoteCache | None) -> dict:
    start = time.perf_counter()
    pages = scan(src)
    rendered = fetched = stored = 0
    for page in pages.values():
        key = page_key(page, pages, config)
        data = cache.get(key) if cache else None
        if data is not None:
            fetched += 1
        else:
            data = render(page, pages, config).encode("utf-8")
            rendered += 1
            if cache and cache.put(key, data):
                stored += 1
        target = out / page.output
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return {"pages": len(pages), "rendered": rendered, "fetched": fetched, "stored": stored,
            "cache_errors": cache.errors if cache else 0, "key": KEY_SCHEME,
            "seconds": round(time.perf_counter() - start, 4)}


# --- A sample source tree ------------------------------------------------------------

WORDS = ("cache key value store server namespace token build page render output source index module "
         "function argument result memo canonical encoding hash serialize deterministic bytes network "
         "request response client compile object layout width paragraph reference title section table "
         "graph node edge tree list map set number string float integer array record field schema").split()


def sample(root: Path, count: int = 40, seed: int = 1) -> None:
    rng = random.Random(seed)
    sections = ["guide", "api", "tutorials", "internals"]
    paths = []
    for i in range(count):
        kind = "rst" if i % 4 == 3 else "md"
        paths.append(f"{sections[i % len(sections)]}/page-{i:02d}.{kind}")
    paths[0] = "index.md"

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
        words[0] = words[0].capitalize()
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] = f"`{rng.choice(WORDS)}()`"
        return " ".join(words) + "."

    for i, path in enumerate(paths):
        kind = "rst" if path.endswith(".rst") else "md"
        title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {i}"
        others = rng.sample([p for p in paths if p != path], 3)
        out = []
        if kind == "md":
            out += [f"# {title}", ""]
        else:
            out += [title, "=" * len(title), ""]
        for s in range(3):
            heading = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}"
            out += [f"## {heading}", ""] if kind == "md" else [heading, "-" * len(heading), ""]
            for _ in range(2):
                text = " ".join(sentence() for _ in range(rng.randint(12, 15)))
                out += [text, ""]
            target = others[s]
            rel = posixpath.relpath(target, posixpath.dirname(path) or ".")
            if kind == "md":
                out += [f"See [](" + rel + ") for more, and [the details](" + rel + ").", ""]
            else:
                out += [f"See :doc:`{posixpath.splitext(rel)[0]}` and :doc:`the details <{posixpath.splitext(rel)[0]}>`.", ""]
        if kind == "md":
            out += ["```", "def memo(x):", "    return cache.get(key(x)) or compute(x)  # " + str(i), "```", ""]
        else:
            out += ["Example::", "", "   def memo(x):", f"       return cache.get(key(x)) or compute(x)  # {i}", ""]
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("\n".join(out), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="write a sample source tree")
    s.add_argument("dir", type=Path)
    s.add_argument("--pages", type=int, default=40)
    s.add_argument("--seed", type=int, default=1)
    b = sub.add_parser("build", help="build SRC into OUT")
    b.add_argument("src", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--cache", help="memokeyd base URL, e.g. http://127.0.0.1:8080/v1/docbuild")
    b.add_argument("--token", default=os.environ.get("DOCBUILD_TOKEN"), help="memokeyd token (or $DOCBUILD_TOKEN)")
    b.add_argument("--config", type=Path, help="JSON file overriding the default configuration")
    args = parser.parse_args(argv)

    if args.command == "sample":
        sample(args.dir, args.pages, args.seed)
        return 0
    config = dict(DEFAULT_CONFIG)
    if args.config:
        config.update(json.loads(args.config.read_text()))
    cache = RemoteCache(args.cache, args.token) if args.cache else None
    print(json.dumps(build(args.src, args.out, config, cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
