"""DOCX text with python-docx: paragraphs in order, headings as section boundaries,
tables as rows. The zip is checked before anything in it is decompressed, and XML
with a DTD (entity expansion, external entities) is refused. Runs in an isolated child.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from adapters.extract.limits import ExtractLimits
from adapters.extract.sections import BlockSections
from domain.documents import Section
from ports.extract import ExtractionFailed

Progress = Callable[[dict[str, Any]], None]

DAMAGED = "the Word document is damaged and cannot be read"


def check_zip(path: str, limits: ExtractLimits) -> None:
    """Refuse zip bombs from the central directory alone: entry count, declared sizes,
    compression ratio. Reading an entry later stops at its declared size (zipfile checks
    the CRC), so a size that lies gives a damaged-file error, not a bomb."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractionFailed(f"{DAMAGED} (not a valid zip: {exc})") from None
    if len(entries) > limits.docx_max_entries:
        raise ExtractionFailed(f"the Word document holds {len(entries)} files; the limit is {limits.docx_max_entries}")
    total = 0
    for entry in entries:
        total += entry.file_size
        if total > limits.docx_max_uncompressed_bytes:
            raise ExtractionFailed(
                "the Word document would unpack to more than "
                f"{limits.docx_max_uncompressed_bytes // (1024 * 1024)} MB (DOCX_MAX_UNCOMPRESSED_MB): a zip bomb?"
            )
        # Ordinary XML compresses 5-20x; a small entry may do better, so only big ones count.
        if entry.file_size > 1 << 20 and entry.file_size > limits.docx_max_ratio * max(1, entry.compress_size):
            raise ExtractionFailed(
                f"the Word document's part {entry.filename} is compressed more than "
                f"{limits.docx_max_ratio}:1 (DOCX_MAX_RATIO): a zip bomb?"
            )


def check_xml(path: str) -> None:
    """Refuse any XML part with a DTD before python-docx parses it: entity expansion
    ("billion laughs") and external entities need one, and Word never writes one."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    with zipfile.ZipFile(path) as archive:
        for entry in archive.infolist():
            if not entry.filename.endswith((".xml", ".rels")):
                continue
            with archive.open(entry) as handle:
                try:
                    # The DTD comes before the root element: one event is enough.
                    for _ in iterparse(handle, events=("start",), forbid_dtd=True):
                        break
                except DefusedXmlException:
                    raise ExtractionFailed(
                        f"the Word document's part {entry.filename} declares XML entities "
                        "(entity expansion or external entities), which are refused"
                    ) from None
                except Exception as exc:
                    raise ExtractionFailed(f"{DAMAGED} (part {entry.filename}: {exc})") from None


def extract_docx(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    check_zip(path, limits)
    check_xml(path)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(path)
    except Exception as exc:
        raise ExtractionFailed(f"{DAMAGED} ({type(exc).__name__}: {exc})") from None
    sections = BlockSections(limits.max_section_chars)
    any_text = False
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if not text:
                continue
            any_text = True
            style = (block.style.name if block.style is not None else "") or ""
            if style.startswith("Heading") or style == "Title":
                yield from sections.boundary({"heading": text[:200]})
            yield from sections.add(text)
        elif isinstance(block, Table):
            rows = _table_rows(block)
            if rows:
                any_text = True
                yield from sections.add("\n".join(rows))
    if not any_text:
        raise ExtractionFailed("the Word document has no text")
    yield from sections.finish()


def _table_rows(table: Any) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            # A merged cell is returned once per grid column it spans.
            if not cells or cells[-1] != text:
                cells.append(text)
        line = " | ".join(cells).strip(" |")
        if line:
            rows.append(line)
    return rows
