"""The limits extraction works within; each is a documented setting."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    max_section_chars: int = 1_000_000
    max_pdf_pages: int = 2000
    docx_max_uncompressed_bytes: int = 200 * MB
    docx_max_ratio: int = 100
    docx_max_entries: int = 10_000
    max_csv_rows: int = 1_000_000
    csv_field_size: int = 131_072
    json_max_depth: int = 100
    timeout_seconds: float = 120.0
    memory_mb: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractLimits:
        return cls(**data)
