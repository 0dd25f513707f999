"""The text extractor port: a stored file in, sections of plain text out.

Contract: ``extract`` yields sections lazily, each at most ``max_section_chars`` long
(split at paragraph boundaries where possible) so a large document never has to sit in
memory whole. Input it cannot read raises ``ExtractionFailed`` (a permanent error) whose
message tells the user what is wrong with the file; ``UnsupportedMediaType`` when the
type is not one it handles. No parser exception crosses the port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from domain.documents import ExtractionRequest, Section
from domain.errors import PermanentError

ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]


class ExtractionFailed(PermanentError):
    code = "extraction_failed"


class UnsupportedMediaType(PermanentError):
    code = "unsupported_media_type"


class TextExtractor(Protocol):
    def supports(self, media_type: str) -> bool: ...

    def extract(
        self, request: ExtractionRequest, *, on_progress: ProgressFn | None = None
    ) -> AsyncIterator[Section]: ...
