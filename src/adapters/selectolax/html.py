"""A web page's main text, title and links, with selectolax's lexbor parser.

Pure functions (no I/O), so the crawler and the benchmark call the same code. Speed
matters (a crawl parses every page; the benchmark holds it to 0.7x of a bare
``body.text()``), so the work stays inside lexbor: one parse, a few selector calls, one
text walk, no per-node Python loop.

Main content: the ``<main>`` element (or ``[role=main]``) when the page has one with
text in it, else the body; either way without script, style, navigation, header,
footer, aside, forms and other chrome
(a ``<header>`` inside ``<main>`` stays: it holds the article's heading). Text nodes are joined with single spaces, so
inline markup (``<code>``, ``<a>``) never splits a sentence; headings stay in the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

# Chrome inside <main>; a <header> there usually holds the article's own heading: kept.
MAIN_DROP = "script,style,noscript,template,nav,aside,footer,form,button,iframe,svg"
# Chrome around the content when a page has no <main>.
BODY_DROP = MAIN_DROP + ",header,select,textarea,canvas,dialog,menu"
# A <main> with less text than this is likely a shell filled in by script: use the body.
MIN_MAIN_CHARS = 40


@dataclass(frozen=True, slots=True)
class Page:
    title: str | None
    text: str
    links: list[str]
    base: str | None = None


def _parse(html: str | bytes) -> LexborHTMLParser:
    # Bytes are UTF-8 unless the page declares otherwise (BOM or <meta charset>).
    return LexborHTMLParser(html, encoding=isinstance(html, bytes))


def _title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    if node is None:
        return None
    title = " ".join(node.text().split())
    return title[:500] or None


def _main_text(tree: LexborHTMLParser) -> str:
    # Two simple selectors: a selector list costs more to compile than the second query.
    main = tree.css_first("main") or tree.css_first("[role=main]")
    if main is not None:
        for node in main.css(MAIN_DROP):
            node.decompose()
        text = main.text(separator=" ", strip=True, skip_empty=True)
        if len(text) >= MIN_MAIN_CHARS:
            return text
    body = tree.body
    if body is None:
        return ""
    for node in body.css(BODY_DROP):
        node.decompose()
    return body.text(separator=" ", strip=True, skip_empty=True)


def html_to_text(html: str | bytes) -> tuple[str | None, str]:
    """(title, main text) of an HTML page. Never raises on malformed markup."""
    tree = _parse(html)
    return _title(tree), _main_text(tree)


def parse_page(html: str | bytes) -> Page:
    """Title, main text, every ``<a href>`` (as written) and the ``<base href>``."""
    tree = _parse(html)
    title = _title(tree)
    links = [href for node in tree.css("a[href]") if (href := node.attributes.get("href"))]
    base_node = tree.css_first("base[href]")
    base = base_node.attributes.get("href") if base_node is not None else None
    return Page(title=title, text=_main_text(tree), links=links, base=base)
