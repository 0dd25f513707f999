"""Plain-text prose out of HTML documentation, for the embedding scripts.

Used by ``scripts/build_static_model.py`` (training text: the Rust documentation
*other than* the book) and ``bench/embedding_quality.py`` (evaluation text: the Rust
book), so both read HTML the same way. Standard library only: it runs in the project's
environment and in the separate distillation environment alike.

Only prose is kept: paragraphs and list items, not code blocks, navigation, headings
or tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

RUST_DOCS = Path("/root/.rustup/toolchains/nightly-x86_64-unknown-linux-gnu/share/doc/rust/html")

_PROSE = {"p", "li", "dd", "blockquote"}
_SKIP = {"pre", "script", "style", "nav", "header", "footer", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")
_SPACE = re.compile(r"\s+")


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._depth = 0  # inside a prose element
        self._skip = 0  # inside an element whose text is not prose
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _PROSE:
            if self._depth and tag == "li":  # a nested list item ends the outer text
                self._flush()
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _PROSE and self._depth:
            self._depth -= 1
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._depth and not self._skip:
            self._parts.append(data)

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._parts)).strip()
        self._parts = []
        if text:
            self.paragraphs.append(text)


def paragraphs(html: str) -> list[str]:
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    return parser.paragraphs


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def html_files(folders: Iterable[Path]) -> Iterator[Path]:
    for folder in folders:
        yield from sorted(p for p in folder.rglob("*.html") if p.name not in {"print.html", "toc.html", "404.html"})


def is_prose(sentence: str, *, min_words: int = 6, max_words: int = 60) -> bool:
    """A sentence of ordinary prose: enough words, mostly letters, not a code fragment."""
    words = sentence.split()
    if not min_words <= len(words) <= max_words:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in sentence)
    return letters >= 0.8 * len(sentence) and sentence[0].isupper()
