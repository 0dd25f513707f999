"""The benchmark corpus: real English technical prose from the HTML docs on this machine.

The Rust documentation books (mdBook pages: the Book, the Reference, the Rustonomicon,
Rust by Example, Cargo...) and, to reach the wanted size, the standard library's API
pages, are turned into plain text (headings, paragraphs, list items and code blocks of
each page's ``<main>``, one block per paragraph) and cached in ``bench/.cache``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
# Another tree of HTML docs can be given with ``python -m bench --docs PATH``.
DOCS = Path("/root/.rustup/toolchains/nightly-x86_64-unknown-linux-gnu/share/doc/rust/html")
BOOKS = ("book", "reference", "nomicon", "rust-by-example", "cargo", "rustc", "edition-guide", "embedded-book",
         "unstable-book", "style-guide", "rustdoc", "clippy", "error_codes")  # fmt: skip
API = ("std", "core", "alloc", "proc_macro")
STUBS = {"first-edition", "second-edition", "2018-edition"}
BLOCKS = "h1, h2, h3, h4, h5, h6, p, pre, li, dt, dd, td, blockquote"


class CorpusMissing(RuntimeError):
    """No HTML documentation tree to build the corpus from."""


def html_pages(limit: int | None = None) -> list[Path]:
    """Documentation pages, books first, in a stable order (``print.html`` copies excluded)."""
    if not DOCS.is_dir():
        raise CorpusMissing(f"no HTML docs at {DOCS} (python -m bench --docs PATH: a folder of HTML pages)")
    pages: list[Path] = []
    for group in (BOOKS, API):
        for name in group:
            folder = DOCS / name
            if folder.is_dir():
                pages += sorted(p for p in folder.rglob("*.html") if _wanted(p))
            if limit is not None and len(pages) >= limit:
                return pages[:limit]
    return pages


def _wanted(page: Path) -> bool:
    # print.html and toc.html repeat other pages; the old editions of the Book are stubs.
    return page.name not in ("print.html", "toc.html") and not STUBS.intersection(page.parts)


def page_text(html: bytes) -> str:
    """The prose of one page's ``<main>`` (or body): one block of text per paragraph."""
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:  # the bench group is not installed: the standard library will do
        return _stdlib_page_text(html.decode("utf-8", "replace"))

    tree = LexborHTMLParser(html)
    root = tree.css_first("main") or tree.body
    if root is None:
        return ""
    blocks = []
    for node in root.css(BLOCKS):
        if node.tag in ("li", "dd", "td", "blockquote") and node.css_first("p, pre, li, ul, ol"):
            continue  # its paragraphs are blocks of their own
        text = node.text(separator="" if node.tag == "pre" else " ", strip=node.tag != "pre")
        if node.tag != "pre":
            text = " ".join(text.split())
        if text.strip():
            blocks.append(text.rstrip())
    return "\n\n".join(blocks)


_BLOCK_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "pre", "li", "dt", "dd", "td", "blockquote"}


def _stdlib_page_text(html: str) -> str:
    """``page_text`` with ``html.parser``: blocks of ``<main>`` split at block tags."""
    from html.parser import HTMLParser

    blocks: list[str] = []

    class Parser(HTMLParser):
        depth = 0  # inside <main> (or no <main> seen: the whole page)
        pre = 0
        current: list[str] = []

        def flush(self) -> None:
            text = "".join(self.current)
            text = text.rstrip() if self.pre else " ".join(text.split())
            if text.strip():
                blocks.append(text)
            self.current = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag == "main":
                self.depth += 1
            elif tag in _BLOCK_TAGS:
                self.flush()
                self.pre += tag == "pre"

        def handle_endtag(self, tag: str) -> None:
            if tag == "main":
                self.depth -= 1
            elif tag in _BLOCK_TAGS:
                self.flush()
                self.pre -= tag == "pre" and self.pre > 0

        def handle_data(self, data: str) -> None:
            if self.depth > 0 or "<main" not in html:
                self.current.append(data)

    parser = Parser()
    parser.feed(html)
    parser.close()
    parser.flush()
    return "\n\n".join(blocks)


def _iter_texts(pages: list[Path]) -> Iterator[str]:
    for page in pages:
        text = page_text(page.read_bytes())
        if text:
            yield text


def corpus(megabytes: float = 12.0) -> str:
    """At least ``megabytes`` MB (UTF-8) of prose, built once and cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"corpus-{megabytes:g}mb.txt"
    if path.exists():
        return path.read_text(encoding="utf-8")
    want = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    for text in _iter_texts(html_pages()):
        parts.append(text)
        size += len(text.encode()) + 2
        if size >= want:
            break
    else:
        raise CorpusMissing(f"the docs at {DOCS} hold only {size / 1e6:.1f} MB of text, {megabytes} MB wanted")
    text = "\n\n".join(parts)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return text


def documents(text: str, count: int, size: int, seed: int = 1) -> list[str]:
    """``count`` documents of about ``size`` characters, cut from ``text`` at paragraph ends."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        start = text.find("\n\n", rng.randrange(0, max(1, len(text) - size - 1))) + 2
        end = text.find("\n\n", start + size)
        out.append(text[start : end if end > 0 else start + size])
    return out
