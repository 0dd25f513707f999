"""Telling uploads apart by their first bytes, and refusing what contradicts its name."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.files import FileType, UnsupportedFile, detect


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.pdf", b"%PDF-1.7\n...", FileType.PDF),
        ("A.PDF", b"\xef\xbb\xbf   %PDF-1.4", FileType.PDF),  # header within the first 1024 bytes
        ("r.docx", b"PK\x03\x04\x14\x00", FileType.DOCX),
        ("t.csv", b"a,b\n1,2\n", FileType.CSV),
        ("d.json", b'{"a": 1}', FileType.JSON),
        ("n.txt", b"MZ is how the notes begin", FileType.TXT),  # "MZ" then text is text
        ("r.md", b"# Title\n", FileType.MD),
        ("win\\path\\notes.markdown", b"text", FileType.MD),
    ],
)
def test_supported_files_are_recognised(name, head, expected):
    assert detect(name, head).type is expected


@pytest.mark.parametrize(
    ("name", "head", "phrase"),
    [
        ("invoice.pdf", b"\x7fELF\x02\x01", "executable (ELF)"),
        ("invoice.pdf", b"MZ\x90\x00\x03\x00", "executable (Windows)"),
        ("report.docx", b"%PDF-1.5", "a PDF"),
        ("notes.txt", b"%PDF-1.5\n%\xe2\xe3", "a PDF"),
        ("data.json", b"PK\x03\x04", "zip archive"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n", "PNG"),
        ("setup.exe", b"MZ\x90\x00", "'.exe' are not supported"),
        ("noextension", b"hello", "(no extension)"),
        (None, b"hello", "no file name"),
    ],
)
def test_content_that_contradicts_its_name_is_refused_with_the_supported_list(name, head, phrase):
    with pytest.raises(UnsupportedFile) as refused:
        detect(name, head)
    assert phrase in refused.value.message and ".pdf" in refused.value.message
    assert refused.value.code == "unsupported_media_type"


def test_an_empty_file_is_invalid_input():
    with pytest.raises(InvalidInput, match="empty"):
        detect("a.txt", b"")
