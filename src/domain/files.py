"""Uploaded files: which types Sluice reads, and telling them apart by their bytes.

An upload's type is decided from its first bytes (its "magic"), and must agree with
the file name's extension: a program renamed ``report.pdf`` is refused before it is
stored, and so is a PDF named ``notes.txt``. Pure logic: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import PurePosixPath

from domain.errors import InvalidInput

# Bytes of an upload read before deciding its type: enough for every signature below
# (a PDF header may sit anywhere in the first 1024 bytes).
SNIFF_BYTES = 8192


class FileType(str, enum.Enum):
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    CSV = "text/csv"
    JSON = "application/json"
    TXT = "text/plain"
    MD = "text/markdown"

    @property
    def is_text(self) -> bool:
        return self in TEXT_TYPES

    def __str__(self) -> str:
        return self.value


TEXT_TYPES = frozenset({FileType.CSV, FileType.JSON, FileType.TXT, FileType.MD})

EXTENSIONS: dict[str, FileType] = {
    ".pdf": FileType.PDF,
    ".docx": FileType.DOCX,
    ".csv": FileType.CSV,
    ".json": FileType.JSON,
    ".txt": FileType.TXT,
    ".text": FileType.TXT,
    ".md": FileType.MD,
    ".markdown": FileType.MD,
}

SUPPORTED = ", ".join(sorted(EXTENSIONS))

# Signatures of binary formats that are never text, to name them in the refusal.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "an executable (Windows)"),
    (b"\xca\xfe\xba\xbe", "an executable (Mach-O)"),
    (b"\xcf\xfa\xed\xfe", "an executable (Mach-O)"),
    (b"\xfe\xed\xfa", "an executable (Mach-O)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.doc, .xls)"),
    (b"SQLite format 3", "an SQLite database"),
)


class UnsupportedFile(InvalidInput):
    """The upload is not one of the supported types, or its content contradicts its name."""

    code = "unsupported_media_type"

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}. Supported types: {SUPPORTED}")


@dataclass(frozen=True, slots=True)
class DetectedFile:
    type: FileType
    extension: str


def extension_of(filename: str | None) -> str:
    if not filename:
        raise UnsupportedFile("the upload has no file name, so its type cannot be checked")
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def _binary_kind(head: bytes) -> str | None:
    for magic, kind in _BINARY_MAGIC:
        # "MZ" alone could begin a line of text; a real executable has NUL bytes soon after.
        if head.startswith(magic) and (len(magic) > 2 or b"\x00" in head[:256]):
            return kind
    return None


def detect(filename: str | None, head: bytes) -> DetectedFile:
    """The type of an upload from its name and its first ``SNIFF_BYTES`` bytes.

    Raises ``UnsupportedFile`` when the extension is not supported or the content is not
    what the extension says; ``InvalidInput`` when the file is empty.
    """
    ext = extension_of(filename)
    declared = EXTENSIONS.get(ext)
    if declared is None:
        raise UnsupportedFile(f"files of type {ext or '(no extension)'!r} are not supported")
    if not head:
        raise InvalidInput("the file is empty: there is nothing to index")
    if declared is FileType.PDF:
        # Readers accept the header anywhere in the first 1024 bytes; so do we.
        if b"%PDF-" not in head[:1024]:
            found = _binary_kind(head)
            raise UnsupportedFile(f"the file is named {ext} but is {found or 'not a PDF'} (no %PDF- header)")
    elif declared is FileType.DOCX:
        if not head.startswith(b"PK\x03\x04"):
            found = _binary_kind(head)
            raise UnsupportedFile(f"the file is named {ext} but is {found or 'not a Word document'} (not a zip)")
    else:
        found = _binary_kind(head)
        if found is not None:
            raise UnsupportedFile(f"the file is named {ext} but is {found}, not text")
    return DetectedFile(type=declared, extension=ext)
