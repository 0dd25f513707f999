"""Plain text and Markdown: strict UTF-8 first, then charset detection; BOM removed,
NUL bytes refused, Markdown headings kept as section boundaries. Streams the file:
memory stays at about one section whatever its size."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from typing import Any

from adapters.extract.limits import ExtractLimits
from adapters.extract.sections import BlockSections
from domain.documents import Section
from domain.text import SectionSplitter
from ports.extract import ExtractionFailed

Progress = Callable[[dict[str, Any]], None]

READ_BYTES = 1 << 20
# charset-normalizer looks at this much of a file that is not UTF-8.
DETECT_BYTES = 1 << 20

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
NUL = "the file contains NUL bytes: it is binary data, not text"


def detect_encoding(path: str) -> str:
    """The codec to read ``path`` with: its BOM's, else UTF-8 if all of it is valid
    UTF-8, else what charset-normalizer finds in its first megabyte."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        for bom, codec in _BOMS:
            if head.startswith(bom):
                return codec
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            while chunk := handle.read(READ_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        handle.seek(0)
        sample = handle.read(DETECT_BYTES)
    if b"\x00" in sample:
        raise ExtractionFailed(NUL)
    from charset_normalizer import from_bytes

    matches = from_bytes(sample)
    best = matches.best()
    if best is not None:
        # A tie says nothing about the language: take the most widespread legacy encoding.
        for match in matches:
            if match.encoding == "cp1252" and match.chaos <= best.chaos and match.coherence >= best.coherence:
                best = match
    if best is None or best.encoding is None:
        raise ExtractionFailed("the file is not valid UTF-8 text and its encoding could not be detected (binary data?)")
    return str(best.encoding)


def decoded_chunks(path: str, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(READ_BYTES):
                text = decoder.decode(chunk)
                if "\x00" in text:
                    raise ExtractionFailed(NUL)
                yield text
            tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ExtractionFailed(
            f"the file is not valid {encoding} text (byte {exc.start} of a block cannot be decoded)"
        ) from None
    if "\x00" in tail:
        raise ExtractionFailed(NUL)
    if tail:
        yield tail


def lines(chunks: Iterator[str]) -> Iterator[str]:
    """The lines of the text, each with its line ending (universal newlines)."""
    rest = ""
    for chunk in chunks:
        parts = (rest + chunk).splitlines(keepends=True)
        rest = parts.pop() if parts and not parts[-1].endswith(("\n", "\r")) else ""
        # A CR at the end of a chunk may be half of a CRLF.
        if parts and parts[-1].endswith("\r"):
            rest = parts.pop() + rest
        yield from parts
    if rest:
        yield rest


def extract_text(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    splitter = SectionSplitter(limits.max_section_chars)
    any_text = False
    for chunk in decoded_chunks(path, detect_encoding(path)):
        chunk = chunk.replace("\r\n", "\n")
        any_text = any_text or bool(chunk.strip())
        for text in splitter.feed(chunk):
            yield Section(text=text)
    for text in splitter.finish():
        yield Section(text=text)
    if not any_text:
        raise ExtractionFailed("the file has no text (only whitespace)")


_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def extract_markdown(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    """Each ATX heading (``#`` to ``######``) outside a fenced code block starts a new
    section; its text goes into the chunks' ``heading`` metadata."""
    sections = BlockSections(limits.max_section_chars)
    block: list[str] = []
    size = 0
    fence: str | None = None
    any_text = False
    for line in lines(decoded_chunks(path, detect_encoding(path))):
        stripped = line.rstrip("\r\n")
        fenced = _FENCE.match(stripped)
        if fenced:
            marker = fenced.group(1)
            if fence is None:
                fence = marker[0]
            elif marker[0] == fence:
                fence = None
        heading = _HEADING.match(stripped) if fence is None and not fenced else None
        if heading:
            if block:
                yield from sections.add("".join(block))
                block, size = [], 0
            yield from sections.boundary({"heading": (heading.group(2) or "").strip()[:200]})
        any_text = any_text or bool(stripped.strip())
        block.append(stripped + "\n")
        size += len(stripped) + 1
        if size >= limits.max_section_chars:
            yield from sections.add("".join(block))
            block, size = [], 0
    if block:
        yield from sections.add("".join(block))
    if not any_text:
        raise ExtractionFailed("the file has no text (only whitespace)")
    yield from sections.finish()
