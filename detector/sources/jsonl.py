"""JSON Lines (plain or gzip): the reader, line grouping and numbering, the exact path.

What counts as a row, how lines are numbered and what is rejected is stated in
:mod:`detector.sources`. Lines are grouped ``batch_rows`` at a time; a clean group goes
through Arrow's JSON reader (:mod:`detector.sources.jsonl_arrow`), a group holding a bad
line is parsed line by line here, and both give the same text for the same value. Which raw
keys are read is the mapping's to say (``ColumnMapping.select_streamed``); this module
never names a field itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detector import schema
from detector.sources.columns import ColumnMapping
from detector.sources.jsonl_arrow import jsonl_fast, jsonl_typed
from detector.sources.jsonpath import get_path
from detector.sources.results import Chunk
from detector.sources.stream import BOM, Stream, raw_text

#: bytes read at a time from a JSON Lines stream
JSONL_READ_BYTES = 8 << 20
#: lines of a file whose keys :func:`raw_columns` reports
RAW_COLUMNS_LINES = 50


def read_jsonl(path: Path, mapping: ColumnMapping, batch_rows: int, hasher: hashlib._Hash) -> Iterator[Chunk]:
    """Chunks of a JSON Lines file (see :data:`detector.sources.registry.FormatReader`)."""
    selected: dict[str, str] | None = None
    with Stream(path, hasher) as stream:
        for first_line, data, n_lines in _line_groups(stream, batch_rows):
            if selected is None:
                selected = _jsonl_columns(path, data, mapping)
            yield _parse_jsonl(data, first_line, n_lines, selected, typed=mapping.json_typed)
        stream.finish()


def _line_groups(stream: Stream, batch_rows: int) -> Iterator[tuple[int, bytes, int]]:
    """Whole lines of a stream, ``batch_rows`` lines (blank ones included) at a time.

    Yields the number of the group's first line, the group's bytes and its number of lines;
    only the very last line of the stream may lack its line break.
    """
    group: list[bytes] = []  # whole lines waiting for the group to fill
    group_lines = 0
    carry = b""  # a line not finished yet
    number = 1
    first = True
    while True:
        block = stream.read(JSONL_READ_BYTES)
        data = carry + block if carry else block
        if first and (len(data) >= len(BOM) or not block):
            data = data.removeprefix(BOM)
            first = False
        if block:
            cut = data.rfind(b"\n") + 1
            data, carry = data[:cut], data[cut:]
        else:
            carry = b""
        while data:
            n_breaks = data.count(b"\n")
            lines_in_data = n_breaks + (0 if data.endswith(b"\n") else 1)
            wanted = batch_rows - group_lines
            if lines_in_data < wanted:
                group.append(data)
                group_lines += lines_in_data
                break
            if wanted < lines_in_data:
                breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
                cut = int(breaks[wanted - 1]) + 1
            else:
                cut = len(data)
            group.append(data[:cut])
            yield number, b"".join(group), batch_rows
            number += batch_rows
            group, group_lines, data = [], 0, data[cut:]
        if not block:
            if group:
                yield number, b"".join(group), group_lines
            return


_NEWLINE = ord("\n")
_RETURN = ord("\r")


def _jsonl_columns(path: Path, data: bytes, mapping: ColumnMapping) -> dict[str, str]:
    """What to read from every object, from the keys the objects of the first group use."""
    if not data.strip():
        return mapping.select_streamed(None, [], path)
    # a key no object uses cannot appear in the bytes as a quoted string
    return mapping.select_streamed(lambda name: json.dumps(name).encode() in data, _first_object_keys(data), path)


def _first_object_keys(data: bytes, tries: int = 20) -> list[str]:
    # only for naming the columns found in an error message
    for line in data.split(b"\n", tries)[:tries]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return [str(k) for k in obj]
    return []


def _parse_jsonl(data: bytes, first_line: int, n_lines: int, selected: dict[str, str], *, typed: bool = False) -> Chunk:
    """One group of lines: Arrow's reader when the group is clean, else line by line."""
    if not (b"\n\n" in data or b"\n\r\n" in data or data.startswith((b"\n", b"\r\n")) or data == b"\r"):
        # no empty line: the common case, numbered without looking at each line
        frame = (jsonl_typed if typed else jsonl_fast)(data, n_lines, selected)
        if frame is not None:
            return Chunk(frame=frame, lines=np.arange(first_line, first_line + n_lines, dtype=np.int64), rejects=[])
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(raw == _NEWLINE)
    starts = np.concatenate(([0], breaks + 1))
    stops = np.concatenate((breaks, [len(data)]))
    if data.endswith(b"\n"):  # no line after the last break
        starts, stops = starts[:-1], stops[:-1]
    lengths = stops - starts
    # empty lines and lone carriage returns; Arrow skips those (and other blank lines, which
    # then show as a row count mismatch and send the group down the exact path)
    blank = (lengths == 0) | ((lengths == 1) & (raw[np.minimum(starts, max(len(data) - 1, 0))] == _RETURN))
    numbers = first_line + np.flatnonzero(~blank)
    frame = (jsonl_typed if typed else jsonl_fast)(data, len(numbers), selected)
    if frame is not None:
        return Chunk(frame=frame, lines=numbers.astype(np.int64), rejects=[])
    lines = data.split(b"\n")
    kept = [(first_line + i, line) for i, line in enumerate(lines[: len(starts)]) if line.strip()]
    return _jsonl_slow([line for _, line in kept], [n for n, _ in kept], selected, nested=typed)


def _jsonl_slow(content: list[bytes], numbers: list[int], selected: dict[str, str], *, nested: bool = False) -> Chunk:
    rows: list[list[str | None]] = []
    kept: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    raws = list(selected.values())
    for number, line in zip(numbers, content):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            rejects.append((number, "invalid UTF-8", raw_text(line.decode("utf-8", "replace"))))
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            rejects.append((number, "invalid JSON", raw_text(text.strip())))
            continue
        if not isinstance(obj, dict):
            rejects.append((number, "not a JSON object", raw_text(text.strip())))
            continue
        row = [_json_text(get_path(obj, raw) if nested else obj.get(raw)) for raw in raws]
        # a \ud800 escape decodes to a lone surrogate, which no string column holds: the
        # row is rejected here, with the reason validate gives (NUL is left to validate)
        bad = next((name for name, value in zip(selected, row) if schema.has_invalid_character(value)), None)
        if bad is not None:
            rejects.append((number, schema.invalid_character_reason(bad), raw_text(text.strip())))
            continue
        rows.append(row)
        kept.append(number)
    frame = pd.DataFrame(rows, columns=list(selected), dtype=object).astype(schema.STRING_DTYPE)
    return Chunk(frame=frame, lines=np.asarray(kept, dtype=np.int64), rejects=rejects)


def _json_text(value: object) -> str | None:
    """A JSON value as the text the fast path gives for it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # what Arrow's float64 -> epoch path sees
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def raw_columns(path: Path) -> list[str]:
    """The keys the first objects of a JSON Lines file use, nested ones as dotted paths.

    A nested object's keys follow as ``parent.key``, and the first element of an array of
    objects as ``parent[0].key`` (the paths a mapping file's ``from`` takes); lines that are
    not JSON objects are skipped.
    """
    keys: dict[str, None] = {}

    def walk(obj: dict[str, Any], prefix: str = "") -> None:
        for k, v in obj.items():
            name = f"{prefix}{k}"
            keys[name] = None
            if isinstance(v, dict):
                walk(v, name + ".")
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                walk(v[0], name + "[0].")

    with Stream(path) as stream:
        for _, data, _ in _line_groups(stream, RAW_COLUMNS_LINES):
            for line in data.split(b"\n"):
                try:
                    obj = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    walk(obj)
            break
    return list(keys)
