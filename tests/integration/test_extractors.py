"""The file extractors on real files: text, layout, limits, and the isolated child."""

from __future__ import annotations

import asyncio
import codecs
import os
from pathlib import Path

import pytest
import pytest_asyncio

import documents as docs
from adapters.extract.extractor import FileTextExtractor
from adapters.extract.isolation import IsolatedExtraction
from adapters.extract.limits import ExtractLimits
from adapters.extract.pdf import _pypdf_pages
from adapters.extract.tabular import json_blocks
from domain.documents import ExtractionRequest
from ports.extract import ExtractionFailed, UnsupportedMediaType

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def extractor():
    ex = FileTextExtractor(ExtractLimits(max_section_chars=4000, max_csv_rows=3, timeout_seconds=30, memory_mb=256))
    yield ex
    await ex.close()


async def extract(ex, tmp_path: Path, name: str, data: bytes, media_type: str, **kw):
    path = tmp_path / name
    path.write_bytes(data)
    return [s async for s in ex.extract(ExtractionRequest(path, media_type), **kw)]


def words(text: str) -> list[str]:
    return text.split()


async def test_pdf_pages_keep_their_numbers_and_all_their_words(extractor, tmp_path):
    pages = docs.page_lines(30, lines=12, seed=8)
    progress: list[dict] = []

    async def report(p):
        progress.append(p)

    sections = await extract(extractor, tmp_path, "a.pdf", docs.pdf(pages), "application/pdf", on_progress=report)
    assert all(len(s.text) <= 4000 for s in sections) and len(sections) > 1
    found = [w for s in sections for w in words(s.text)]
    expected = [w for page in pages for line in page for w in line.split()]
    recall = len(set(found) & set(expected)) / len(set(expected))
    assert recall >= 0.99 and len(found) == len(expected)
    for section in sections:
        for offset, page in section.page_starts:
            assert section.text[offset:].startswith(pages[page - 1][0])
    assert progress[-1] == {"pages_done": 30, "pages_total": 30}


async def test_pypdf_the_fallback_backend_reads_the_same_words(tmp_path):
    pages = docs.page_lines(3, lines=5, seed=4)
    path = tmp_path / "b.pdf"
    path.write_bytes(docs.pdf(pages))
    read = list(_pypdf_pages(str(path), ExtractLimits(), reason="test"))
    assert [(n, total) for n, total, _ in read] == [(1, 3), (2, 3), (3, 3)]
    assert words(read[1][2]) == [w for line in pages[1] for w in line.split()]


async def test_one_child_serves_file_after_file(tmp_path):
    pool = IsolatedExtraction(memory_mb=256, timeout_seconds=30, size=1)
    ex = FileTextExtractor(ExtractLimits(), pool)
    try:
        pdf = docs.pdf(docs.page_lines(2, lines=3, seed=1))
        await extract(ex, tmp_path, "1.pdf", pdf, "application/pdf")
        first = pool._idle[0].proc.pid
        await extract(ex, tmp_path, "2.pdf", pdf, "application/pdf")
        assert pool._idle[0].proc.pid == first
    finally:
        await ex.close()


async def test_past_the_time_limit_the_child_is_killed_and_the_next_file_works(tmp_path):
    pool = IsolatedExtraction(memory_mb=256, timeout_seconds=0.02, size=1)
    ex = FileTextExtractor(ExtractLimits(), pool)
    try:
        with pytest.raises(ExtractionFailed, match=r"longer than 0\.02 s"):
            await extract(ex, tmp_path, "slow.pdf", docs.pdf(docs.page_lines(150, lines=20)), "application/pdf")
        assert pool._idle == []  # the child that was too slow is gone
        pool.timeout_seconds = 30
        sections = await extract(ex, tmp_path, "ok.pdf", docs.pdf([["after the timeout"]]), "application/pdf")
        assert sections[0].text == "after the timeout"
    finally:
        await ex.close()


async def test_a_child_that_dies_fails_the_file_clearly(tmp_path):
    pool = IsolatedExtraction(memory_mb=256, timeout_seconds=30, size=1)
    ex = FileTextExtractor(ExtractLimits(), pool)
    try:
        await pool.warm()
        os.kill(pool._idle[0].proc.pid, 9)
        await asyncio.sleep(0.2)
        # A dead idle child is replaced, not handed a file.
        sections = await extract(ex, tmp_path, "a.pdf", docs.pdf([["still extracted"]]), "application/pdf")
        assert sections[0].text == "still extracted"
    finally:
        await ex.close()


async def test_docx_paragraphs_headings_and_tables_in_order(extractor, tmp_path):
    data = docs.docx(["First paragraph.", "Second paragraph."], heading="Overview", table=[["k", "v"], ["a", "1"]])
    media = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    sections = await extract(extractor, tmp_path, "d.docx", data, media)
    assert [s.text for s in sections] == ["Overview\n\nFirst paragraph.\n\nSecond paragraph.\n\nk | v\na | 1"]
    assert sections[0].metadata == {"heading": "Overview"}


FRENCH = (
    "Le garçon a mangé une crème brûlée à la pâtisserie près de la gare.\r\n"
    "Ensuite, il a acheté un café et un croissant, puis il est allé à l'hôtel où sa sœur l'attendait."
)


async def test_text_encodings_boms_and_crlf(extractor, tmp_path):
    for name, data in {
        "utf8bom.txt": codecs.BOM_UTF8 + FRENCH.encode(),
        "utf16.txt": FRENCH.encode("utf-16"),
        "latin.txt": FRENCH.encode("cp1252"),
    }.items():
        sections = await extract(extractor, tmp_path, name, data, "text/plain")
        assert "".join(s.text for s in sections) == FRENCH.replace("\r\n", "\n"), name


async def test_markdown_headings_split_sections_but_not_inside_code(extractor, tmp_path):
    md = b"intro text\n# One\nalpha\n```\n# not a heading\n```\n## Two ##\nbeta\n"
    sections = await extract(extractor, tmp_path, "r.md", md, "text/markdown")
    assert [s.metadata.get("heading") for s in sections] == [None, "One", "Two"]
    assert "# not a heading" in sections[1].text and sections[2].text.startswith("## Two")


async def test_csv_dialect_header_and_row_cap(extractor, tmp_path):
    sections = await extract(extractor, tmp_path, "a.csv", b"name;city\nAda;London\nLin;\n", "text/csv")
    assert sections[0].text == "name: Ada\ncity: London\n\nname: Lin"
    with pytest.raises(ExtractionFailed, match="more than 3 rows"):
        await extract(extractor, tmp_path, "b.csv", b"x\n1\n2\n3\n4\n", "text/csv")
    with pytest.raises(ExtractionFailed, match="field larger than field limit"):
        await extract(extractor, tmp_path, "c.csv", b'a,b\n"' + b"x" * 200_000 + b"\n", "text/csv")


async def test_json_depth_limit_is_exact(extractor, tmp_path):
    ok = await extract(extractor, tmp_path, "a.json", b"[" * 99 + b'{"k": 1}' + b"]" * 99, "application/json")
    assert ok[0].text.endswith("k: 1")
    with pytest.raises(ExtractionFailed, match="nested 101 levels"):
        await extract(extractor, tmp_path, "b.json", b"[" * 100 + b"{}" + b"]" * 100, "application/json")
    brackets_in_strings = b'{"a": "[[[[[[' + b"[" * 500 + b'"}'
    assert (await extract(extractor, tmp_path, "c.json", brackets_in_strings, "application/json"))[0].text


async def test_json_records_are_blocks_and_paths_are_flat():
    value = {"shop": {"name": "Bolt"}, "items": [{"sku": "A", "tags": ["x"]}, {"sku": "B"}]}
    assert list(json_blocks(value)) == ["items.sku: A\nitems.tags[0]: x", "items.sku: B", "shop.name: Bolt"]
    assert list(json_blocks([{"a": 1}, {"a": 2}])) == ["a: 1", "a: 2"]


async def test_an_unknown_media_type_is_refused(extractor, tmp_path):
    with pytest.raises(UnsupportedMediaType):
        await extract(extractor, tmp_path, "x.bin", b"x", "application/octet-stream")
