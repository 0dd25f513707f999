"""Real documents, and hostile ones, made in the tests (fpdf2, pypdf, python-docx)."""

from __future__ import annotations

import io
import json
import random
import zipfile

WORDS_SEED = 7


def vocabulary(size: int = 3000, seed: int = WORDS_SEED) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words)


def page_lines(pages: int, lines: int = 15, words: int = 12, seed: int = 1) -> list[list[str]]:
    """Distinct lines of made-up words, per page: any line identifies its page."""
    rng = random.Random(seed)
    vocab = vocabulary()
    return [[" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(lines)] for _ in range(pages)]


def pdf(pages: list[list[str]]) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("Helvetica", size=10)
    for lines in pages:
        doc.add_page()
        y = 20.0
        for line in lines:
            doc.text(15, y, line)
            y += 5
    return bytes(doc.output())


def blank_pdf(pages: int = 2) -> bytes:
    """Pages with a drawing and no text layer: what a scan without OCR looks like."""
    from fpdf import FPDF

    doc = FPDF()
    for _ in range(pages):
        doc.add_page()
        doc.rect(20, 20, 100, 60, style="F")
    return bytes(doc.output())


def encrypted_pdf(pages: list[list[str]], password: str = "s3cret") -> bytes:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf(pages)))
    writer = pypdf.PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF from raw object bodies (object 1 is the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def looping_pdf() -> bytes:
    """A page tree that contains itself: a parser that follows it naively never ends."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 2 >>",
        ]
    )


def flate_bomb_pdf(megabytes: int = 400) -> bytes:
    """One page whose content stream inflates a couple of hundredfold, to ``megabytes``."""
    import zlib

    packer = zlib.compressobj(1)
    block = b" " * (1024 * 1024)  # whitespace: a valid, if empty, content stream
    compressed = b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed) + compressed + b"\nendstream"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            stream,
        ]
    )


def docx(paragraphs: list[str], *, heading: str | None = None, table: list[list[str]] | None = None) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _rewrite(data: bytes, name: str, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            target.writestr(item.filename, change(body) if item.filename == name else body)
    return out.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>\n"
)


def entity_docx() -> bytes:
    """word/document.xml with a "billion laughs" DTD and the entity used in a paragraph."""

    def change(body: bytes) -> bytes:
        body = body.split(b"?>", 1)[1].lstrip()
        return BILLION_LAUGHS + body.replace(b"Harmless", b"&lol9;", 1)

    return _rewrite(docx(["Harmless words here"]), "word/document.xml", change)


def external_entity_docx() -> bytes:
    def change(body: bytes) -> bytes:
        body = body.split(b"?>", 1)[1].lstrip()
        dtd = b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        return dtd + body.replace(b"Harmless", b"&xxe;", 1)

    return _rewrite(docx(["Harmless words here"]), "word/document.xml", change)


def zip_bomb_docx(megabytes: int = 120) -> bytes:
    """A real DOCX plus a part that inflates a thousandfold."""
    out = io.BytesIO(docx(["A normal looking document."]))
    with (
        zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("word/media/image1.bin", "w", force_zip64=True) as part,
    ):
        zeros = bytes(1024 * 1024)
        for _ in range(megabytes):
            part.write(zeros)
    return out.getvalue()


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def records_json(records: list[dict]) -> bytes:
    return json.dumps({"title": "inventory", "items": records}).encode()


def lying_docx(megabytes: int = 30) -> bytes:
    """word/document.xml inflates to ``megabytes`` but the zip's directory says 1,000 bytes:
    size and ratio checks pass, and reading must stop at the declared size."""
    import struct

    def change(body: bytes) -> bytes:
        return body.replace(b"<w:body>", b"<w:body>" + b" " * (megabytes * 1024 * 1024), 1)

    data = bytearray(_rewrite(docx(["Harmless words here"]), "word/document.xml", change))
    entry = data.find(b"PK\x01\x02")
    while entry != -1:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + name_length] == b"word/document.xml":
            struct.pack_into("<I", data, entry + 24, 1000)
            return bytes(data)
        entry = data.find(b"PK\x01\x02", entry + 4)
    raise AssertionError("no word/document.xml in the central directory")
