"""CSV (plain or gzip): the reader, and the header read on its own.

What counts as a row, how records are numbered and what is rejected is stated in
:mod:`detector.sources`. Arrow's streaming reader parses, single-threaded (which is what
numbers bad records); only the columns the mapping selects are converted, as bytes, so one
bad byte rejects a row instead of failing the file. This module never renames a column: the
mapping does.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from detector.errors import InputError
from detector.sources.arrow import frame_from_arrow
from detector.sources.columns import ColumnMapping
from detector.sources.results import Chunk
from detector.sources.stream import BOM, RAW_READ_BYTES, Stream, gzip_detail, raw_text, unreadable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: bytes the CSV reader parses at a time; also the longest single CSV record it accepts
CSV_BLOCK_BYTES = 8 << 20
#: the most physical lines one quoted field may span (its line breaks plus one); a quote
#: still open after that many lines is taken as never closed: the record it opened is
#: rejected on its own and reading resumes at the next line
MAX_FIELD_LINES = 1_000
#: the most bytes one quoted field may hold, with the same outcome past it
MAX_FIELD_BYTES = 1 << 20
#: the longest CSV header, in bytes (a header that is longer, or never ends, is an InputError)
MAX_HEADER_BYTES = 1 << 16

_NL, _CR, _QUOTE, _COMMA = 10, 13, 34, 44
#: bytes scanned for quotes at a time: small after a runaway quote, doubling while clean
_FIRST_WINDOW = 1 << 16
_GOOD_WINDOW = 1 << 20
_LAST_WINDOW = 2 * CSV_BLOCK_BYTES
#: bytes read at a time (a window longer than that gathers several reads)
_READ_BYTES = 1 << 20


def read_csv(path: Path, mapping: ColumnMapping, batch_rows: int, hasher: hashlib._Hash) -> Iterator[Chunk]:
    """Chunks of a CSV file (see :data:`detector.sources.registry.FormatReader`)."""
    found = csv_header(path)
    header, has_rows = found if found is not None else ([], False)
    if found is not None:
        selected = mapping.select(header)
        mapping.require(header, path)
    if not has_rows:  # nothing, or a header alone: zero rows, but hash (and count) the bytes
        with Stream(path, hasher) as stream:
            guard = QuoteGuard(stream, path, len(header))
            while guard.read(RAW_READ_BYTES):
                pass
            stream.finish()
        if found is not None:
            yield _empty_chunk(selected, guard)
        return
    raw_names = list(selected.values())
    repeated = [name for name in raw_names if header.count(name) > 1]
    if repeated:
        raise InputError(f"column {repeated[0]!r} appears more than once in the header", file=str(path))

    invalid: list[tuple[int, str, str]] = []

    with Stream(path, hasher) as stream:
        guard = QuoteGuard(stream, path, len(header))

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            number = row.number if row.number is not None else 0
            if row.text.startswith(guard.marker):
                reason, text = guard.rejects.popleft()
                invalid.append((number, reason, text))
            else:
                invalid.append((number, f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
            return "skip"

        last: Chunk | None = None
        try:
            reader = pa_csv.open_csv(
                guard,
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
                    if last is not None:
                        yield last
                    last = emit(head.to_batches(), final=False)
                    frames, buffered = rest.to_batches(), rest.num_rows
            stream.finish()
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(path, exc) from exc
        if buffered or pending or invalid:
            if last is not None:
                yield last
            last = emit(frames, final=True)
        # the last chunk carries the file's line accounting
        if last is None:
            last = _empty_chunk(selected, guard)
        last.line_counts = guard.counts()
        yield last


def csv_header(path: Path) -> tuple[list[str], bool] | None:
    """Column names from the first CSV record, read separately (cheap: one block).

    Returns None for a file with no content, else the names and whether anything follows
    the header (Arrow refuses a header without a line break). Linear in what it reads: a
    header longer than :data:`MAX_HEADER_BYTES` (or a quote in it that never closes) is an
    InputError.
    """
    data = b""
    scanned = quotes = 0  # bytes whose quotes are counted, and how many
    end: int | None = None
    rows = False
    with Stream(path) as stream:
        while True:
            block = stream.read(1 << 16)
            if end is not None:  # the header is read: is anything more than blank lines after it?
                rows = bool(block.strip(b"\r\n"))
                if rows or not block:
                    break
                continue
            if not data:  # Arrow skips a byte-order mark and blank lines before the header; so do we
                block = block.removeprefix(BOM).lstrip(b"\r\n")
            data += block
            # a line break outside quotes ends the record; "" inside quotes keeps the count even
            while end is None:
                found = data.find(b"\n", scanned)
                if found < 0:
                    quotes += data.count(b'"', scanned)
                    scanned = len(data)
                    break
                quotes += data.count(b'"', scanned, found)
                scanned = found + 1
                if quotes % 2 == 0:
                    end = found
            if end is not None:
                rows = bool(data[end:].strip(b"\r\n"))
                if rows:
                    break
            elif len(data) > MAX_HEADER_BYTES:
                what = "a quote in it is never closed" if quotes % 2 else "no line break ends it"
                raise InputError(f"the CSV header is longer than {MAX_HEADER_BYTES // 1024} KiB ({what})", file=str(path), line=1)
            if not block:
                break
    if not data:
        return None
    if end is not None and end > MAX_HEADER_BYTES:
        raise InputError(f"the CSV header is longer than {MAX_HEADER_BYTES // 1024} KiB", file=str(path), line=1)
    try:
        text = (data if end is None else data[:end]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the CSV header is not UTF-8 text", file=str(path), line=1) from exc
    try:
        names = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise InputError(f"cannot read the CSV header: {exc}", file=str(path), line=1) from exc
    return names, end is not None and rows


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


def _empty_chunk(selected: dict[str, str], guard: QuoteGuard) -> Chunk:
    frame, _, _ = frame_from_arrow(None, selected, np.empty(0, dtype=np.int64))
    return Chunk(frame=frame, lines=np.empty(0, dtype=np.int64), rejects=[], line_counts=guard.counts())


def _quote_state(a: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Where the lines of the bytes ``a`` (which start a record) end, and their quoting:
    (the last byte of each line break, the start and length of each run of quotes, whether
    quoting is on after each run, and a function telling for positions whether they are
    inside a quoted field)."""
    n = len(a)
    newline = a == _NL
    cr = a == _CR
    cr[:-1] &= ~newline[1:]
    if not final and n:
        cr[-1] = False  # maybe the first half of \r\n
    ends = np.flatnonzero(newline | cr)  # the last byte of each line break

    quotes = np.flatnonzero(a == _QUOTE)
    if len(quotes):
        first = np.ones(len(quotes), dtype=bool)
        first[1:] = quotes[1:] != quotes[:-1] + 1
        run_at = quotes[first]
        run_len = np.diff(np.append(np.flatnonzero(first), len(quotes)))
        before = np.where(run_at > 0, a[np.maximum(run_at - 1, 0)], _NL)
        field_start = (before == _COMMA) | (before == _NL) | (before == _CR)
        odd = (run_len & 1) == 1
        # an odd run at a field start toggles quoting; elsewhere it ends it (closing a
        # field, or literal in an unquoted one); an even run changes nothing
        toggles = np.cumsum(odd & field_start)
        reset = np.where(odd & ~field_start, np.arange(len(run_at)), -1)
        last_reset = np.maximum.accumulate(reset)
        inside = ((toggles - np.where(last_reset >= 0, toggles[np.maximum(last_reset, 0)], 0)) & 1).astype(bool)
    else:
        run_at = run_len = np.empty(0, dtype=np.int64)
        inside = np.empty(0, dtype=bool)

    def inside_at(positions: np.ndarray) -> np.ndarray:
        k = np.searchsorted(run_at + run_len, positions, side="right") - 1
        return np.where(k >= 0, inside[np.maximum(k, 0)], False) if len(inside) else np.zeros(len(positions), dtype=bool)

    return ends, run_at, run_len, inside, inside_at


def _first_invalid_utf8(view: memoryview, final: bool) -> int:
    """Position of the first byte of ``view`` that is not UTF-8 (-1: none; a sequence cut
    by the end of ``view`` counts as invalid only when ``final``)."""
    try:
        codecs.utf_8_decode(view, "strict", final)
    except UnicodeDecodeError as exc:
        return int(exc.start)
    return -1


def _field_count(record: bytes) -> int:
    """Fields of one CSV record (its line break included or not), as Python's csv reads it."""
    fields = next(csv.reader(io.StringIO(record.decode("latin-1"), newline="")), [])
    return len(fields)


class QuoteGuard(io.RawIOBase):
    """The bytes of a CSV stream as Arrow should parse them, with its physical lines counted.

    It follows quoting as Arrow does (a quote opens a field only at the start of a field;
    ``""`` inside one is a quote; a quote closes it) and counts physical lines (ended by
    ``\\n``, ``\\r\\n`` or ``\\r``), the blank ones and those that continue a quoted field.
    A quoted field that spans more than :data:`MAX_FIELD_LINES` lines or
    :data:`MAX_FIELD_BYTES` bytes, or is still open at the end of the file, is taken as an
    unclosed quote: the record it is in, up to the end of the line where the quote opened,
    is handed to Arrow as one marker line (which its invalid-row handler turns into the
    reject queued in :attr:`rejects`), and the lines after it are read afresh.

    Work is linear: bytes are scanned with numpy in windows (doubling while clean, small
    again after an unclosed quote); only a record with a quoted field still open at the end
    of a window is scanned again, and that is bounded by the limits above.
    """

    def __init__(self, stream: Stream, path: Path, columns: int) -> None:
        super().__init__()
        self._stream = stream
        self._path = path
        self._data = b""  # bytes not yet handed on, from the start of a record outside quotes
        self._pos = 0
        self._eof = False
        self._first = True
        self._window = _FIRST_WINDOW
        self._out: deque[memoryview] = deque()
        #: what starts every marker line (unguessable, so no record can pose as one)
        self.marker = "\x00insiderwatch-" + os.urandom(8).hex()
        self._columns = columns
        self._marker_line = self.marker.encode() + b"," * max(columns, 1) + b"\n"
        #: (reason, raw text) of each marker line handed on, in order
        self.rejects: deque[tuple[str, str]] = deque()
        self.lines = 0
        self.blank_lines = 0
        self.continued_lines = 0

    @property
    def records(self) -> int:
        """Records the lines counted so far make (the header included)."""
        return self.lines - self.blank_lines - self.continued_lines

    def counts(self) -> tuple[int, int, int]:
        """(lines, blank lines, records) so far."""
        return self.lines, self.blank_lines, self.records

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._out:
            if not self._step():
                return 0
        target = memoryview(buffer).cast("B")
        done = 0
        while self._out and done < len(target):
            piece = self._out[0]
            n = min(len(piece), len(target) - done)
            target[done : done + n] = piece[:n]
            done += n
            if n == len(piece):
                self._out.popleft()
            else:
                self._out[0] = piece[n:]
        return done

    def _step(self) -> bool:
        """Hand on some bytes (or a marker line); False once everything is handed on."""
        available = len(self._data) - self._pos
        if available < self._window and not self._eof:
            more = self._stream.read(_READ_BYTES)
            self._data = self._data[self._pos :] + more if self._pos < len(self._data) else more
            self._pos = 0
            self._eof = not more
            if self._first and self._data[: len(BOM)] == BOM[: len(self._data)]:
                if len(self._data) < len(BOM) and not self._eof:
                    return True
                self._data = self._data.removeprefix(BOM)  # Arrow skips it; quotes after it open fields
            self._first = False
            return True
        if not available:
            return False
        view = memoryview(self._data)[self._pos : self._pos + self._window]
        final = self._eof and self._pos + len(view) == len(self._data)
        cut = self._not_utf8(view, final)
        if cut is None:
            return True
        if len(cut) < len(view):
            # whole records, ending in a complete line break: read as the end of the bytes
            view, final = cut, True
        used, runaway = self._plain(self._pos, self._pos + len(view), final), None
        if used < 0:
            used, runaway = self._scan(view, final)
        if runaway is not None:
            start, end, reason = runaway
            if start:
                self._out.append(view[:start])
            self._out.append(memoryview(self._marker_line))
            self.rejects.append((reason, raw_text(bytes(view[start:end]).decode("utf-8", "replace"))))
            self._pos += end
            self._window = _FIRST_WINDOW
        elif used:
            self._out.append(view[:used])
            self._pos += used
            self._window = min(self._window * 2, max(_GOOD_WINDOW, self._window))
        elif self._window < _LAST_WINDOW and (len(view) == self._window or not self._eof):
            self._window *= 2  # one record fills the window: look further
        else:
            raise InputError(f"cannot read file: a CSV record is longer than {_LAST_WINDOW >> 20} MiB", file=str(self._path))
        return True

    def _not_utf8(self, view: memoryview, final: bool) -> memoryview | None:
        """Arrow cannot hand a record with the wrong number of fields to its invalid-row
        handler when the record is not UTF-8: it fails the file. Such a record is handed on
        as a marker line (rejected with its field count) here. Returns the bytes to read on
        as usual (those before the first record holding bytes that are not UTF-8, or that
        record alone when its fields are right), or None when a marker was handed on.
        Work stays linear: only the bytes up to the end of that record are looked at."""
        bad = _first_invalid_utf8(view, final)
        if bad < 0:
            return view
        # the record holding it: from the last line end outside quotes before it, to the
        # first one after it (looked for in a stretch that doubles until it is found)
        stretch = bad + 1
        while True:
            stretch = min(2 * stretch + 4096, len(view))
            a = np.frombuffer(view[:stretch], dtype=np.uint8)
            whole = final and stretch == len(view)
            ends, _, _, _, inside_at = _quote_state(a, whole)
            outside = ends[~inside_at(ends)]
            start = int(outside[outside < bad][-1]) + 1 if np.any(outside < bad) else 0
            after = outside[outside >= bad]
            if len(after) or stretch == len(view):
                break
        if start > 0:
            return view[:start]  # the whole records before it first
        if len(after):
            end = int(after[0]) + 1
        elif whole and not inside_at(np.array([len(a)]))[0]:
            end = len(view)  # the last record, with no line break after it
        else:
            return view  # a quoted field still open: read on (the window grows, or it is an unclosed quote)
        if np.count_nonzero(ends < end) >= MAX_FIELD_LINES or end > MAX_FIELD_BYTES:
            return view  # a quoted field over the limits: an unclosed quote, rejected as such
        record = bytes(view[:end])
        fields = _field_count(record)
        if fields == self._columns:
            return view[:end]  # its fields are right: the bad bytes are rejected per column
        self._count(a[:end], ends[ends < end], inside_at)
        self._out.append(memoryview(self._marker_line))
        self.rejects.append((f"expected {self._columns} fields, found {fields}", raw_text(record.decode("utf-8", "replace"))))
        self._pos += end
        self._window = _FIRST_WINDOW
        return None

    def _plain(self, start: int, end: int, final: bool) -> int:
        """Count the lines of bytes with no quote, no blank line and no lone \\r, cheaply:
        the bytes of whole lines, or -1 if the bytes are not like that (scan them)."""
        data = self._data
        if data.find(b'"', start, end) >= 0:
            return -1
        a = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
        breaks = np.flatnonzero(a == _NL)
        if data.find(b"\r", start, end) >= 0:
            cr = np.flatnonzero(a == _CR)
            if cr[-1] + 1 >= len(a) or not np.array_equal(a[cr + 1], np.full(len(cr), _NL, dtype=np.uint8)):
                return -1
        starts = breaks[:-1] + 1
        if a[0] in (_NL, _CR) or np.any((a[starts] == _NL) | (a[starts] == _CR)):
            return -1
        if final:
            self.lines += len(breaks) + (1 if a[-1] != _NL else 0)
            return len(a)
        self.lines += len(breaks)
        return int(breaks[-1]) + 1 if len(breaks) else 0

    def _scan(self, view: memoryview, final: bool) -> tuple[int, tuple[int, int, str] | None]:
        """Scan bytes that start a record: (bytes of whole records, None) or (0, unclosed quote).

        The unclosed quote is (start of its record, end of the line it opened on, reason);
        the counts cover the bytes handed on (whole records, or up to that line's end).
        """
        a = np.frombuffer(view, dtype=np.uint8)
        n = len(a)
        ends, run_at, run_len, inside, inside_at = _quote_state(a, final)

        # quoted fields that open (a run leaving quoting on) and where they close
        runaway: tuple[int, int, str] | None = None
        if len(inside):
            was_inside = np.concatenate(([False], inside[:-1]))
            opens = np.flatnonzero(inside & ~was_inside)
            if len(opens):
                closing = np.flatnonzero(~inside)
                j = np.searchsorted(closing, opens, side="right")
                has_close = j < len(closing)
                close_at = np.where(has_close, run_at[closing[np.minimum(j, len(closing) - 1)]] if len(closing) else n, n)
                open_at = run_at[opens]
                spans = np.searchsorted(ends, close_at) - np.searchsorted(ends, open_at)
                too_long = (spans >= MAX_FIELD_LINES) | (close_at - open_at > MAX_FIELD_BYTES)
                if final:
                    too_long |= ~has_close
                bad = np.flatnonzero(too_long)
                if len(bad):
                    i = int(bad[0])
                    p = int(open_at[i])
                    if spans[i] >= MAX_FIELD_LINES:
                        reason = f"unclosed quote: the field runs past {MAX_FIELD_LINES:,} lines"
                    elif close_at[i] - p > MAX_FIELD_BYTES:
                        reason = f"unclosed quote: the field runs past {MAX_FIELD_BYTES:,} bytes"
                    else:
                        reason = "unclosed quote: the field runs to the end of the file"
                    after = int(np.searchsorted(ends, p))
                    line_end = int(ends[after]) + 1 if after < len(ends) else n
                    starts = np.concatenate(([0], ends[:after] + 1))
                    record_start = int(starts[~inside_at(starts)][-1])
                    runaway = (record_start, line_end, reason)

        if runaway is not None:
            used = runaway[1]
        else:
            outside_ends = ends[~inside_at(ends)]
            used = n if final else (int(outside_ends[-1]) + 1 if len(outside_ends) else 0)
        if used:
            self._count(a[:used], ends[ends < used], inside_at)
        return (0 if runaway is not None else used), runaway

    def _count(self, a: np.ndarray, ends: np.ndarray, inside_at: object) -> None:
        starts = np.concatenate(([0], ends + 1))
        starts = starts[starts < len(a)]
        lines_inside = inside_at(starts)  # type: ignore[operator]
        blank = (a[starts] == _NL) | (a[starts] == _CR)
        self.lines += len(starts)
        self.continued_lines += int(np.count_nonzero(lines_inside))
        self.blank_lines += int(np.count_nonzero(blank & ~lines_inside))
