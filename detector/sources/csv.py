"""CSV (plain or gzip): the reader, and the header read on its own.

What counts as a row, how records are numbered and what is rejected is stated in
:mod:`detector.sources`. Arrow's streaming reader parses, single-threaded (which is what
numbers bad records); only the columns the mapping selects are converted, as bytes, so one
bad byte rejects a row instead of failing the file. This module never renames a column: the
mapping does.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from detector.errors import InputError
from detector.sources.arrow import frame_from_arrow
from detector.sources.columns import ColumnMapping
from detector.sources.results import Chunk
from detector.sources.stream import BOM, RAW_READ_BYTES, Stream, gzip_detail, raw_text, unreadable

#: bytes the CSV reader parses at a time; also the longest single CSV record it accepts
CSV_BLOCK_BYTES = 8 << 20


def read_csv(path: Path, mapping: ColumnMapping, batch_rows: int, hasher: hashlib._Hash) -> Iterator[Chunk]:
    """Chunks of a CSV file (see :data:`detector.sources.registry.FormatReader`)."""
    found = csv_header(path)
    header, has_rows = found if found is not None else ([], False)
    if found is not None:
        selected = mapping.select(header)
        mapping.require(header, path)
    if not has_rows:  # nothing, or a header alone: zero rows, but hash the bytes
        with Stream(path, hasher) as stream:
            while stream.read(RAW_READ_BYTES):
                pass
            stream.finish()
        return
    raw_names = list(selected.values())
    repeated = [name for name in raw_names if header.count(name) > 1]
    if repeated:
        raise InputError(f"column {repeated[0]!r} appears more than once in the header", file=str(path))

    invalid: list[tuple[int, str, str]] = []

    def on_invalid_row(row: pa_csv.InvalidRow) -> str:
        number = row.number if row.number is not None else 0
        invalid.append((number, f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
        return "skip"

    with Stream(path, hasher) as stream:
        try:
            reader = pa_csv.open_csv(
                stream.stream,
                # single-threaded parsing is what numbers invalid rows; it is no slower here
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=raw_names,
                    # bytes, so that one bad byte rejects a row instead of failing the file
                    column_types={name: pa.binary() for name in raw_names},
                    strings_can_be_null=False,
                ),
            )
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(path, exc) from exc

        next_record = 2  # the header is record 1
        pending: list[tuple[int, str, str]] = []
        frames: list[pa.RecordBatch] = []
        buffered = 0

        def emit(batches: list[pa.RecordBatch], final: bool) -> Chunk:
            nonlocal next_record, pending
            table = pa.Table.from_batches(batches, schema=reader.schema) if batches else None
            n = table.num_rows if table is not None else 0
            pending.extend(invalid)
            invalid.clear()
            pending.sort(key=lambda r: r[0])
            bad_numbers = np.fromiter((r[0] for r in pending), dtype=np.int64, count=len(pending))
            candidates = np.arange(next_record, next_record + n + len(pending), dtype=np.int64)
            lines = candidates[~np.isin(candidates, bad_numbers)][:n]
            if final:
                cut = len(pending)
            else:
                last = lines[-1] if n else next_record - 1
                cut = int(np.searchsorted(bad_numbers, last, side="right"))
            early = [(num, reason, raw_text(text)) for num, reason, text in pending[:cut]]
            pending = pending[cut:]
            if n:
                next_record = int(lines[-1]) + 1
            frame, utf8_rejects, keep = frame_from_arrow(table, selected, lines)
            return Chunk(frame=frame, lines=lines[keep] if keep is not None else lines, rejects=early + utf8_rejects)

        try:
            for record_batch in reader:
                frames.append(record_batch)
                buffered += record_batch.num_rows
                while buffered >= batch_rows:
                    table = pa.Table.from_batches(frames, schema=reader.schema)
                    head, rest = table.slice(0, batch_rows), table.slice(batch_rows)
                    yield emit(head.to_batches(), final=False)
                    frames, buffered = rest.to_batches(), rest.num_rows
            stream.finish()
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(path, exc) from exc
        if buffered or pending or invalid:
            yield emit(frames, final=True)


def csv_header(path: Path) -> tuple[list[str], bool] | None:
    """Column names from the first CSV record, read separately (cheap: one block).

    Returns None for a file with no content, else the names and whether anything follows
    the header (Arrow refuses a header without a line break).
    """
    data = b""
    with Stream(path) as stream:
        while True:
            block = stream.read(1 << 16)
            data += block
            # Arrow skips a byte-order mark and blank lines before the header; so do we
            data = data.removeprefix(BOM).lstrip(b"\r\n")
            end = _header_end(data)
            if not block or (end is not None and data[end:].strip()):
                break
    if not data:
        return None
    end = _header_end(data)
    try:
        text = (data if end is None else data[:end]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the CSV header is not UTF-8 text", file=str(path), line=1) from exc
    names = next(csv.reader(io.StringIO(text, newline="")), [])
    return names, end is not None and bool(data[end:].strip())


def _header_end(data: bytes) -> int | None:
    """Index of the line break that ends the first record, or None if not read yet."""
    # a line break outside quotes ends the record; "" inside quotes keeps the count even
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return None
        if data.count(b'"', 0, end) % 2 == 0:
            return end
        start = end + 1


def raw_columns(path: Path) -> list[str]:
    """The names in a CSV file's header (none for an empty file)."""
    found = csv_header(path)
    return found[0] if found else []


def _unreadable(path: Path, exc: BaseException) -> InputError:
    """:func:`~detector.sources.stream.unreadable`, saying why Arrow refuses a record."""
    detail = str(exc).strip() or type(exc).__name__
    if "straddl" in detail and gzip_detail(detail) == detail:
        detail = f"a CSV record is longer than {CSV_BLOCK_BYTES >> 20} MiB (often a quote that is never closed): {detail}"
        return InputError(f"cannot read file: {detail}", file=str(path))
    return unreadable(path, exc)
