"""PDF text, page by page: PDFium (pypdfium2) first, pypdf for the files PDFium rejects.

PDFium is several times faster than pypdf and hardened by years of fuzzing in Chrome;
pypdf is more forgiving of some damaged files. Both sit behind ``extract_pdf``, which
yields sections with their page numbers and reports ``pages_done/pages_total``. Runs in
an isolated child process (see ``isolation``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from adapters.extract.limits import ExtractLimits
from adapters.extract.sections import PagedSections
from domain.documents import Section
from ports.extract import ExtractionFailed

Progress = Callable[[dict[str, Any]], None]

PASSWORD = "the PDF is password-protected; upload it without a password"
NO_TEXT = "the PDF has no extractable text (scanned?); it would need OCR, which Sluice does not do"
# How often page progress is reported: each report is a write of the job.
PROGRESS_SECONDS = 0.5


class _Rejected(Exception):
    """PDFium could not open the file (not a password problem): let pypdf try."""


def extract_pdf(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    try:
        pages = _pdfium_pages(path, limits)
        first = next(pages, None)
    except _Rejected as rejected:
        yield from _assemble(_pypdf_pages(path, limits, reason=str(rejected)), limits, progress)
        return
    yield from _assemble(_chain(first, pages), limits, progress)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def _assemble(pages: Iterator[tuple[int, int, str]], limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    """(page number, page count, text) in, sections out; fails when no page had text."""
    builder = PagedSections(limits.max_section_chars)
    reported = time.monotonic()
    any_text = False
    done = total = 0
    for number, total, text in pages:
        done = number
        if text.strip():
            any_text = True
            yield from builder.add(number, text)
        now = time.monotonic()
        if now - reported >= PROGRESS_SECONDS:
            progress({"pages_done": done, "pages_total": total})
            reported = now
    if not any_text:
        raise ExtractionFailed(NO_TEXT)
    progress({"pages_done": done, "pages_total": total})
    yield from builder.finish()


def _too_many(count: int, limits: ExtractLimits) -> ExtractionFailed:
    return ExtractionFailed(f"the PDF has {count} pages; the limit is {limits.max_pdf_pages} (MAX_PDF_PAGES)")


def _pdfium_pages(path: str, limits: ExtractLimits) -> Iterator[tuple[int, int, str]]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractionFailed(PASSWORD) from None
        raise _Rejected(str(exc)) from None
    try:
        count = len(pdf)
        if count > limits.max_pdf_pages:
            raise _too_many(count, limits)
        for index in range(count):
            try:
                page = pdf[index]
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                page.close()
            except pdfium.PdfiumError as exc:
                raise ExtractionFailed(f"page {index + 1} of the PDF is damaged ({exc})") from None
            yield index + 1, count, _clean(text)
    finally:
        pdf.close()


def _clean(text: str) -> str:
    # PDFium ends lines with CRLF and marks hyphenation points with U+FFFE / U+0002.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "").replace("\x02", "")


def _pypdf_pages(path: str, limits: ExtractLimits, *, reason: str) -> Iterator[tuple[int, int, str]]:
    import pypdf
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            # An owner password alone (the usual "no copying" flag) opens with "".
            try:
                if not reader.decrypt(""):
                    raise ExtractionFailed(PASSWORD)
            except (FileNotDecryptedError, NotImplementedError):
                raise ExtractionFailed(PASSWORD) from None
        count = len(reader.pages)
    except ExtractionFailed:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ExtractionFailed(f"the PDF is damaged and cannot be read ({reason}; pypdf: {exc})") from None
    if count > limits.max_pdf_pages:
        raise _too_many(count, limits)
    for index in range(count):
        try:
            text = reader.pages[index].extract_text() or ""
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ExtractionFailed(f"page {index + 1} of the PDF is damaged ({exc})") from None
        yield index + 1, count, text
