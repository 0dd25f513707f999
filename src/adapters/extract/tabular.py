"""CSV and JSON as text a search can match: ``name: value`` lines, one block per record.

CSV streams (dialect sniffed, header row as field names, field size limit, row cap).
JSON is parsed whole, so it runs in the isolated child; its nesting depth is measured
on the raw bytes before parsing, so a document nested 100,000 deep is refused without
any recursion.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from typing import Any

from adapters.extract.limits import ExtractLimits
from adapters.extract.sections import BlockSections
from adapters.extract.text import decoded_chunks, detect_encoding, lines
from domain.documents import Section
from ports.extract import ExtractionFailed

Progress = Callable[[dict[str, Any]], None]

SNIFF_CHARS = 16_384


def extract_csv(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    encoding = detect_encoding(path)
    stream = lines(decoded_chunks(path, encoding))
    sample_lines: list[str] = []
    size = 0
    for line in stream:
        sample_lines.append(line)
        size += len(line)
        if size >= SNIFF_CHARS:
            break
    sample = "".join(sample_lines)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(limits.csv_field_size)

    def all_lines() -> Iterator[str]:
        yield from sample_lines
        yield from stream

    reader = csv.reader(all_lines(), dialect, strict=True)
    sections = BlockSections(limits.max_section_chars)
    try:
        header = next(reader, None)
        if header is None:
            raise ExtractionFailed("the CSV file is empty")
        names = [name.strip() or f"column {i + 1}" for i, name in enumerate(header)]
        rows = 0
        for row in reader:
            rows += 1
            if rows > limits.max_csv_rows:
                raise ExtractionFailed(f"the CSV has more than {limits.max_csv_rows} rows (MAX_CSV_ROWS)")
            fields = []
            for i, value in enumerate(row):
                value = value.strip()
                if value:
                    name = names[i] if i < len(names) else f"column {i + 1}"
                    fields.append(f"{name}: {value}")
            if fields:
                yield from sections.add("\n".join(fields))
    except csv.Error as exc:
        hint = " (an unmatched quote?)" if "end of data" in str(exc) or "expected" in str(exc) else ""
        raise ExtractionFailed(f"the CSV is malformed at line {reader.line_num}: {exc}{hint}") from None
    if rows == 0:
        # A header alone is still text worth finding.
        yield from sections.add(", ".join(names))
    yield from sections.finish()


# -- JSON ------------------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``data`` (arrays and objects), without parsing it: strings are
    removed with a regex, every other byte but brackets dropped, the rest summed."""
    import numpy as np

    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def extract_json(path: str, limits: ExtractLimits, progress: Progress) -> Iterator[Section]:
    import msgspec

    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    depth = json_depth(data)
    if depth > limits.json_max_depth:
        raise ExtractionFailed(
            f"the JSON is nested {depth} levels deep; the limit is {limits.json_max_depth} (JSON_MAX_DEPTH)"
        )
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ExtractionFailed(f"the file is not valid JSON ({exc})") from None
    except RecursionError:
        raise ExtractionFailed(f"the JSON is nested too deep (limit {limits.json_max_depth})") from None
    del data
    sections = BlockSections(limits.max_section_chars)
    any_text = False
    for block in json_blocks(value):
        any_text = True
        yield from sections.add(block)
    if not any_text:
        raise ExtractionFailed("the JSON holds no values to index")
    yield from sections.finish()


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def json_blocks(root: Any, *, lines_per_block: int = 200) -> Iterator[str]:
    """Flatten to ``path.to.key: value`` lines; each object of an array of objects (a
    record) is a block of its own, its keys relative to it. Iterative: no recursion."""
    # Work items, popped from the end: (path, value, block) or a block to close.
    blocks: dict[int, list[str]] = {0: []}
    opened = 0
    stack: list[tuple[str, Any, int] | int] = [("", root, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            block = blocks.pop(item)
            if block:
                yield "\n".join(block)
            continue
        path, value, index = item
        if index < 0:
            # A record: open its block now, close it once its contents are done.
            opened += 1
            index = opened
            blocks[index] = []
            stack.append(index)
            stack.append((path, value, index))
            continue
        if isinstance(value, dict):
            children = [(f"{path}.{key}" if path else str(key), child, index) for key, child in value.items()]
            stack.extend(reversed(children))
        elif _is_records(value):
            # Keys of a top-level record stand alone; nested ones keep the array's path.
            stack.extend((path, record, -1) for record in reversed(value))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{i}]", child, index) for i, child in enumerate(value)]))
        else:
            text = _scalar(value).strip()
            if text:
                block = blocks[index]
                block.append(f"{path}: {text}" if path else text)
                if len(block) >= lines_per_block:
                    yield "\n".join(block)
                    blocks[index] = []
    if blocks[0]:
        yield "\n".join(blocks[0])
