"""Scenarios 2 (PDF) and 3 (HTML main-content extraction): need the files / crawler work.

Until Sluice's extractors land (branches ``files`` and ``crawler``), these scenarios
report themselves as skipped rather than measure a stand-in.
"""

from __future__ import annotations

from bench.common import Context, Row, Skipped


def run_pdf(ctx: Context) -> list[Row | Skipped]:
    return [Skipped("2 PDF extraction", "skipped: needs files branch (Sluice's PDF extractor)")]


def run_html(ctx: Context) -> list[Row | Skipped]:
    return [Skipped("3 HTML extraction", "skipped: needs crawler branch (Sluice's page-to-text)")]
