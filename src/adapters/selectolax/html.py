"""A web page's main text, title and links, with selectolax's lexbor parser.

Pure functions (no I/O), so the crawler and the benchmark call the same code. Speed
matters (a crawl parses every page; the benchmark holds it to 0.7x of a bare
``body.text()``), so the work stays inside lexbor: one parse, one text walk, and no
CSS selector engine where a tag lookup will do.

Main content: the ``<main>`` element (or ``[role=main]``) when the page has one with
text in it, else the body; either way without script, style, navigation, header,
footer, aside, forms and other chrome (a ``<header>`` inside ``<main>`` stays: it holds
the article's heading). Only the chosen root is cleaned, in one walk of its subtree.
Text nodes are joined with single spaces, so inline markup (``<code>``, ``<a>``) never
splits a sentence; headings stay in the text.

Where the time goes (callgrind, 200 Rust doc pages): lexbor builds a CSS parser and
selector engine the first time a document is queried with CSS, which cost as much as
all the rest of the clean-up; and matching an 11-selector list costs more per node than
reading each node's tag id. So tags are found with ``tags()`` (a plain tag-name walk),
chrome with one ``traverse()`` of the root comparing tag ids, and the few CSS queries
left (``[role=main]``, ``a[href]``) go through one selector engine kept per thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser, LexborNode

# Chrome inside <main>; a <header> there usually holds the article's own heading: kept.
MAIN_DROP = ("script", "style", "noscript", "template", "nav", "aside", "footer", "form", "button", "iframe", "svg")
# Chrome around the content when a page has no <main>.
BODY_DROP = (*MAIN_DROP, "header", "select", "textarea", "canvas", "dialog", "menu")
# A <main> with less text than this is likely a shell filled in by script: use the body.
MIN_MAIN_CHARS = 40


def _tag_ids(names: tuple[str, ...]) -> frozenset[int]:
    # Standard tags have fixed ids in lexbor (custom elements get per-document ones).
    tree = LexborHTMLParser("".join(f"<{name}></{name}>" for name in names))
    ids = frozenset(node.tag_id for node in tree.root.traverse() if node.tag in names) if tree.root else frozenset()
    if len(ids) != len(names):  # pragma: no cover - a lexbor without one of these tags
        raise RuntimeError(f"lexbor has no fixed tag id for one of {names}")
    return ids


MAIN_DROP_IDS = _tag_ids(MAIN_DROP)
BODY_DROP_IDS = _tag_ids(BODY_DROP)

_local = threading.local()


@dataclass(frozen=True, slots=True)
class Page:
    title: str | None
    text: str
    links: list[str]
    base: str | None = None


def _selector() -> LexborCSSSelector:
    # Building a CSS engine costs more than a whole clean-up, and a parser builds its
    # own on its first css() call: one per thread is reused across documents instead.
    selector: LexborCSSSelector | None = getattr(_local, "selector", None)
    if selector is None:
        selector = _local.selector = LexborCSSSelector()
    return selector


def _parse(html: str | bytes) -> LexborHTMLParser:
    # Bytes are UTF-8 unless the page declares otherwise (BOM or <meta charset>).
    return LexborHTMLParser(html, encoding=isinstance(html, bytes))


def _title(tree: LexborHTMLParser) -> str | None:
    found = tree.tags("title")
    if not found:
        return None
    title = " ".join(found[0].text().split())
    return title[:500] or None


def _drop(root: LexborNode, tag_ids: frozenset[int]) -> None:
    """Remove the chrome elements under ``root`` (a root that is not chrome itself)."""
    # Collected first, removed after: removal during the walk would cut it short. A
    # node inside removed chrome is removed again, which only unlinks it: harmless.
    for node in [node for node in root.traverse() if node.tag_id in tag_ids]:
        node.decompose()


def _main_root(tree: LexborHTMLParser) -> LexborNode | None:
    found = tree.tags("main")
    if found:
        return found[0]
    top = tree.root
    if top is None:
        return None
    found = _selector().find("[role=main]", top)
    return found[0] if found else None


def _main_text(tree: LexborHTMLParser) -> str:
    main = _main_root(tree)
    # A [role=main] on chrome itself (a <script>, a <nav>...) is no content root.
    if main is not None and main.tag_id not in MAIN_DROP_IDS:
        _drop(main, MAIN_DROP_IDS)
        text = main.text(separator=" ", strip=True, skip_empty=True)
        if len(text) >= MIN_MAIN_CHARS:
            return text
    body = tree.body
    if body is None:
        return ""
    _drop(body, BODY_DROP_IDS)
    return body.text(separator=" ", strip=True, skip_empty=True)


def html_to_text(html: str | bytes) -> tuple[str | None, str]:
    """(title, main text) of an HTML page. Never raises on malformed markup."""
    tree = _parse(html)
    return _title(tree), _main_text(tree)


def parse_page(html: str | bytes) -> Page:
    """Title, main text, every ``<a href>`` (as written) and the ``<base href>``."""
    tree = _parse(html)
    title = _title(tree)
    top = tree.root
    anchors = _selector().find("a[href]", top) if top is not None else []
    links = [href for node in anchors if (href := node.attributes.get("href"))]
    base = next((href for node in tree.tags("base") if (href := node.attributes.get("href")) is not None), None)
    return Page(title=title, text=_main_text(tree), links=links, base=base)
