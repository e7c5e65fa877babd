"""Ingest: read access-log files into canonical event batches, in bounded memory.

This is where raw logs enter insiderwatch. A source resolves an input spec (a file, a
directory, a glob) to files, reads each file in its format (CSV, JSON Lines, Parquet; plain
or gzip), applies a :class:`Mapping` from raw field names to canonical ones, and sends every
batch of rows through :func:`detector.schema.validate`. It yields :class:`Batch` objects of
accepted rows and rejects, and records a :class:`FileStats` per file (size, SHA-256, row
counts) in an :class:`IngestReport`, so that a run manifest can name exactly what it read.

This module must never write anything, never keep more than a batch (plus a little
read-ahead) of a file in memory, never drop a row silently, and never let a raw field name
escape: everything it yields uses :mod:`detector.schema` names.

Accounting
----------
Every row read is either accepted or rejected, per batch, per file and in total:
``rows_read == rows_accepted + rows_rejected``. What counts as a row:

* CSV: every record after the header. Blank lines are not records. A record with the wrong
  number of fields (including an unterminated quote, which swallows the rest of the file
  into one record) is rejected with the reason ``"expected N fields, found M"``; a record
  whose used fields are not valid UTF-8 is rejected with ``"invalid UTF-8 in <column>"``.
* JSON Lines: every non-blank line. A line that is not JSON is rejected with
  ``"invalid JSON"``, one that is JSON but not an object with ``"not a JSON object"``, one
  that is not UTF-8 with ``"invalid UTF-8"``.
* Parquet: every row.

Line numbers in rejects
-----------------------
* CSV: the record number, the header being record 1 (so the first data row is 2). It is the
  physical line number unless the file has blank lines or quoted fields containing line
  breaks, which shift physical lines but not records.
* JSON Lines: the physical line number (1-based), blank lines included.
* Parquet: the row number, starting at 1.

Whole-file errors
-----------------
:class:`~detector.errors.InputError` naming the file is raised for: a path that does not
exist or a spec that matches nothing; a required column missing from the CSV header, the
Parquet schema or every object of the first JSON Lines batch (raised before anything of that
file is yielded); a CSV header that is not UTF-8; a truncated or corrupt gzip stream; a
corrupt Parquet file, or one whose schema names a used column twice; a single CSV record
larger than the read block. Files are streamed, so
a truncated gzip is only noticed when its end is reached, after earlier batches of that file
have been yielded: the caller (a pipeline) must treat the run as failed and write nothing,
which it does by only committing after the generator is exhausted.

Empty files (0 bytes, an empty gzip, a header only) give zero rows and no error; their
:class:`FileStats` say so.

Values
------
Only the columns the mapping selects are read (CSV) or converted (JSON Lines, Parquet);
other columns are never parsed, so they cannot cause rejects. Values reach
:func:`~detector.schema.validate` as text, except typed Parquet columns and JSON epoch
numbers, which it converts itself. In JSON Lines, numbers become their decimal text
(``17``, ``2.5``), ``true``/``false`` stay as written, and nested values become compact
JSON. The ``raw`` column of a reject is the row's selected fields under canonical names
(as :func:`~detector.schema.raw_row` writes it), or, for rows that never reached
validation (wrong field count, invalid JSON or UTF-8), the text of the record or line; both
are cut to :data:`~detector.schema.RAW_KEEP` characters.

Speed
-----
Arrow does the parsing: CSV through its streaming reader (single-threaded, which is what
numbers bad records, on a background thread so that decompression and parsing overlap
validation), JSON Lines through its JSON reader on blocks of whole lines (falling back to
``json.loads`` line by line only for a block holding a bad line), Parquet by row batches.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import queue
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from detector import schema
from detector.errors import InputError

#: rows per batch; a batch of canonical events is roughly 100 MB of pandas memory per 250k
DEFAULT_BATCH_ROWS = 250_000
#: bytes the CSV reader parses at a time; also the longest single CSV record it accepts
CSV_BLOCK_BYTES = 8 << 20
#: bytes read at a time from a JSON Lines stream
JSONL_READ_BYTES = 8 << 20
#: batches the background reader may get ahead of validation
READ_AHEAD = 2

_GZIP = ".gz"
_RAW_READ_BYTES = 4 << 20
_BOM = b"\xef\xbb\xbf"


# --- mapping ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Mapping:
    """How a source's raw field names map to the canonical event columns.

    Parameters
    ----------
    rename : dict of str to str
        Raw column name -> canonical name. Raw columns not named here keep their name, so a
        file already in canonical form needs no mapping. When several raw columns present in
        one file would supply the same canonical column, the first listed in ``rename`` wins
        over later ones, and any of them wins over a raw column already carrying the
        canonical name.

    Notes
    -----
    This is the seam for mapping files: a loader builds a ``Mapping``; sources only call
    :meth:`select` and :meth:`apply`.
    """

    rename: dict[str, str] = field(default_factory=dict)

    #: JSON values are read as strings (a rename never needs their types)
    json_typed = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rename.values()) - set(schema.EVENT_COLUMNS))
        if unknown:
            raise InputError(
                f"mapping targets unknown canonical column {unknown[0]!r}; "
                f"canonical columns are {', '.join(schema.EVENT_COLUMNS)}",
                column=unknown[0],
            )

    def select(self, raw_columns: Iterable[str]) -> dict[str, str]:
        """The raw column that supplies each canonical column present.

        Parameters
        ----------
        raw_columns : iterable of str
            Column names as the file spells them.

        Returns
        -------
        dict of str to str
            Canonical name -> raw name, in :data:`~detector.schema.EVENT_COLUMNS` order,
            only for canonical columns some raw column supplies.
        """
        present = list(raw_columns)
        chosen: dict[str, str] = {}
        for raw, canonical in self.rename.items():
            if raw in present and canonical not in chosen:
                chosen[canonical] = raw
        renamed_away = set(self.rename)
        for name in present:
            if name in schema.EVENT_COLUMNS and name not in chosen and name not in renamed_away:
                chosen[name] = name
        return {c: chosen[c] for c in schema.EVENT_COLUMNS if c in chosen}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Keep the columns that supply canonical ones, under their canonical names.

        Parameters
        ----------
        frame : DataFrame
            Rows with raw column names.

        Returns
        -------
        DataFrame
            Only the selected columns, renamed; other columns are dropped.
        """
        selected = self.select(frame.columns)
        out = frame[list(selected.values())]
        out.columns = list(selected)
        return out

    def require(self, raw_columns: Sequence[str], path) -> None:
        """InputError naming the file and the first required column no raw column supplies."""
        _require(self.select(raw_columns), raw_columns, path)

    def coverage(self, raw_columns: Iterable[str]) -> dict[str, str | None]:
        """Canonical column -> the raw column that supplies it (None: nothing does)."""
        selected = self.select(raw_columns)
        return {c: selected.get(c) for c in schema.EVENT_COLUMNS}

    def transform(self, frame: pd.DataFrame):
        """Rows are already canonical after :meth:`select`: nothing to do, nothing rejected."""
        return frame, None


def as_mapping(mapping: Mapping | dict[str, str] | None) -> Mapping:
    """A :class:`Mapping` from a mapping, a ``rename`` dict, or nothing (identity).

    A mapping file (:class:`detector.mapping.FileMapping`) passes through as it is: it has
    the same ``select`` / ``require`` / ``coverage`` / ``transform`` methods.
    """
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping) or hasattr(mapping, "transform"):
        return mapping
    return Mapping(rename=dict(mapping))


# --- results ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """One batch of a file: validated events and the rows rejected beside them.

    ``rows_read == len(accepted) + len(rejects)``. ``accepted`` has the columns and dtypes
    of :func:`detector.schema.empty_events`, ``rejects`` those of
    :func:`detector.schema.empty_rejects`, sorted by line.
    """

    source: Path
    accepted: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int


@dataclass(frozen=True)
class FileStats:
    """What was read from one file, for run manifests.

    ``sha256`` is the digest of the file's bytes as stored (compressed, for .gz), so that a
    manifest names the exact file; ``size_bytes`` is its size on disk.
    """

    path: Path
    format: str
    size_bytes: int
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int


@dataclass
class IngestReport:
    """Per-file accounting of a read, filled in as each file is consumed to its end.

    A file whose batches were not all consumed (the caller stopped early) is not recorded.
    """

    files: list[FileStats] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class Loaded:
    """Everything a (small) input holds, concatenated: see :func:`load_events`."""

    events: pd.DataFrame
    rejects: pd.DataFrame
    report: IngestReport


# --- resolving inputs ------------------------------------------------------------------
#: file name endings -> format name; longest ending wins
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".json": "jsonl",
    ".json.gz": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(path: str | Path) -> str | None:
    """The format a file name implies (``"csv"``, ``"jsonl"``, ``"parquet"``), or None."""
    name = Path(path).name.lower()
    for ending in sorted(EXTENSIONS, key=len, reverse=True):
        if name.endswith(ending):
            return EXTENSIONS[ending]
    return None


def resolve_inputs(spec: str | Path | Sequence[str | Path], *, any_name: bool = False) -> list[Path]:
    """Expand an input spec to the files it names.

    Parameters
    ----------
    spec : str, Path or sequence of them
        Each item is a file (taken whatever its name), a directory (every file with a
        supported extension under it, recursively, hidden files and folders skipped) or a
        glob pattern (``*``, ``?``, ``[...]``, ``**``; files with a supported extension).
    any_name : bool
        Take every file a directory or pattern holds, whatever its extension (when the
        caller names the format).

    Returns
    -------
    list of Path
        Files in the order of the items; within a directory or glob, sorted by path. A file
        named twice is listed once.

    Raises
    ------
    InputError
        When an item is neither an existing path nor a pattern matching files, or a
        directory or pattern holds no supported file.
    """
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    if not items:
        raise InputError("no input given")
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and (any_name or detect_format(p) is not None)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise InputError("directory holds no CSV, JSON Lines or Parquet file", file=str(item))
            found.extend(files)
        elif glob.has_magic(str(item)):
            files = sorted(
                Path(p)
                for p in glob.glob(str(item), recursive=True)
                if Path(p).is_file() and (any_name or detect_format(p) is not None)
            )
            if not files:
                raise InputError("pattern matches no CSV, JSON Lines or Parquet file", file=str(item))
            found.extend(files)
        else:
            raise InputError("no such file or directory", file=str(item))
    return list(dict.fromkeys(found))


# --- reading ---------------------------------------------------------------------------
@dataclass
class _Chunk:
    """Rows of one file in canonical names, before validation, and rows already rejected."""

    frame: pd.DataFrame
    lines: np.ndarray
    rejects: list[tuple[int, str, str]]  # (line, reason, raw text)


#: a format reader: (path, mapping, batch_rows, hasher) -> chunks; it raises InputError for a
#: missing required column before yielding anything, and updates ``hasher`` with every byte
#: of the file when it reads them all itself (otherwise the caller hashes the file)
FormatReader = Callable[[Path, Mapping, int, "hashlib._Hash"], Iterator[_Chunk]]


def read_events(
    spec: str | Path | Sequence[str | Path],
    *,
    mapping: Mapping | dict[str, str] | None = None,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    report: IngestReport | None = None,
) -> Iterator[Batch]:
    """Read every file of an input spec as validated canonical event batches.

    Parameters
    ----------
    spec : str, Path or sequence of them
        See :func:`resolve_inputs`; resolved before anything is read, so a bad spec fails
        at once.
    mapping : Mapping or dict of str to str, optional
        Raw -> canonical column names; a dict is taken as :attr:`Mapping.rename`.
    fmt : {"csv", "jsonl", "parquet"}, optional
        Format of every file, overriding what their names imply.
    batch_rows : int
        Largest number of rows per batch.
    report : IngestReport, optional
        Receives a :class:`FileStats` as each file is finished.

    Yields
    ------
    Batch
        In file order, then line order. A file may yield batches with no accepted rows.

    Raises
    ------
    InputError
        See the module docstring.
    """
    paths = check_inputs(spec, fmt=fmt)
    named = {Path(p) for p in ([spec] if isinstance(spec, (str, Path)) else spec) if Path(p).is_file()}
    mapping = as_mapping(mapping)
    for path in paths:
        try:
            yield from read_file(path, mapping=mapping, fmt=fmt, batch_rows=batch_rows, report=report)
        except InputError as exc:
            if path in named or "column" not in exc.context:
                raise
            # a file a directory or pattern brought in (a roster, a calendar beside the logs)
            raise InputError(
                exc.message + "; it was read because a directory or pattern given as input holds it, and every "
                "CSV, JSON Lines or Parquet file there is read as a log: name the log files (e.g. 'logs/*.csv.gz')",
                **exc.context,
            ) from exc


def check_inputs(spec: str | Path | Sequence[str | Path], *, fmt: str | None = None) -> list[Path]:
    """The files ``spec`` names (:func:`resolve_inputs`), each of a format this reads;
    raises InputError before anything is read (or any store is opened) when one is not."""
    paths = resolve_inputs(spec, any_name=fmt is not None)
    for path in paths:
        _format_of(path, fmt)
    return paths


def read_file(
    path: str | Path,
    *,
    mapping: Mapping | dict[str, str] | None = None,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    report: IngestReport | None = None,
) -> Iterator[Batch]:
    """Read one file as validated canonical event batches; see :func:`read_events`."""
    path = Path(path)
    fmt = _format_of(path, fmt)
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    mapping = as_mapping(mapping)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
    hasher = hashlib.sha256()
    read = accepted = rejected = 0
    if size:
        chunks = _read_ahead(lambda: FORMATS[fmt](path, mapping, batch_rows, hasher), READ_AHEAD)
        try:
            for chunk in chunks:
                batch = _validate_chunk(chunk, path, mapping)
                read += batch.rows_read
                accepted += len(batch.accepted)
                rejected += len(batch.rejects)
                yield batch
        finally:
            chunks.close()
    if fmt == "parquet" or not size:
        hasher = _sha256_of(path)
    if report is not None:
        report.files.append(
            FileStats(
                path=path,
                format=fmt,
                size_bytes=size,
                sha256=hasher.hexdigest(),
                rows_read=read,
                rows_accepted=accepted,
                rows_rejected=rejected,
            )
        )


def load_events(
    spec: str | Path | Sequence[str | Path],
    *,
    mapping: Mapping | dict[str, str] | None = None,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Loaded:
    """Read a whole input into one events frame and one rejects frame.

    For inputs that fit in memory (tests, samples, one day of a small site); pipelines over
    large inputs iterate :func:`read_events` instead.
    """
    report = IngestReport()
    events: list[pd.DataFrame] = []
    rejects: list[pd.DataFrame] = []
    for batch in read_events(spec, mapping=mapping, fmt=fmt, batch_rows=batch_rows, report=report):
        if len(batch.accepted):
            events.append(batch.accepted)
        if len(batch.rejects):
            rejects.append(batch.rejects)
    return Loaded(
        events=pd.concat(events, ignore_index=True) if events else schema.empty_events(),
        rejects=pd.concat(rejects, ignore_index=True) if rejects else schema.empty_rejects(),
        report=report,
    )


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is None:
        fmt = detect_format(path)
        if fmt is None:
            raise InputError(
                "cannot tell the format from the file name; name it .csv, .jsonl or .parquet "
                "(optionally .gz), or give the format",
                file=str(path),
            )
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}", file=str(path))
    return fmt


def _validate_chunk(chunk: _Chunk, path: Path, mapping: Mapping | None = None) -> Batch:
    source = str(path)
    frame, lines, early_rejects = chunk.frame, chunk.lines, chunk.rejects
    if mapping is not None and not isinstance(mapping, Mapping):
        # a mapping file: raw fields -> canonical columns, with its own rejects
        frame, reasons = mapping.transform(frame.reset_index(drop=True))
        if reasons is not None:
            bad = reasons != None  # noqa: E711
            raw = chunk.frame.reset_index(drop=True).loc[bad]
            early_rejects = list(early_rejects) + [
                (int(line), str(reason), schema.raw_row(record))
                for line, reason, record in zip(lines[bad], reasons[bad], raw.to_dict("records"))
            ]
            frame, lines = frame.loc[~bad].reset_index(drop=True), lines[~bad]
    validated = schema.validate(frame, source=source, lines=lines)
    rejects = validated.rejects
    if early_rejects:
        early = pd.DataFrame(early_rejects, columns=["line", "reason", "raw"])
        early.insert(0, "source", source)
        early = early.astype(schema.empty_rejects().dtypes.to_dict())
        rejects = pd.concat([r for r in (rejects, early) if len(r)], ignore_index=True)
        rejects = rejects.sort_values("line", kind="stable", ignore_index=True)
    return Batch(
        source=path,
        accepted=validated.accepted,
        rejects=rejects,
        rows_read=len(chunk.frame) + len(chunk.rejects),
    )


def _sha256_of(path: Path) -> "hashlib._Hash":
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes as stored, read in blocks (the digest run manifests record)."""
    return _sha256_of(Path(path)).hexdigest()


# --- byte streams ----------------------------------------------------------------------
class _HashingReader(io.RawIOBase):
    """A read-only file that feeds every byte it hands out to a hash."""

    def __init__(self, handle, hasher) -> None:
        self._handle = handle
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._handle.readinto(buffer)
        if n:
            self._hasher.update(memoryview(buffer)[:n])
        return n

    def drain(self) -> None:
        """Hash whatever the decoder left unread (bytes after the gzip stream)."""
        for block in iter(lambda: self._handle.read(1 << 20), b""):
            self._hasher.update(block)

    def close(self) -> None:
        self._handle.close()
        super().close()


class _Stream:
    """The decompressed bytes of a file, hashing the stored bytes as they are read."""

    def __init__(self, path: Path, hasher=None) -> None:
        self.path = path
        self._raw = _HashingReader(open(path, "rb"), hasher if hasher is not None else hashlib.sha256())
        # large reads: each one takes the GIL, which the validating thread mostly holds
        native = pa.BufferedInputStream(pa.PythonFile(self._raw, mode="r"), buffer_size=_RAW_READ_BYTES)
        if path.name.lower().endswith(_GZIP):
            self.stream = pa.CompressedInputStream(native, "gzip")
        else:
            self.stream = native

    def read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(self.path, exc) from exc

    def finish(self) -> None:
        self._raw.drain()

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "_Stream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _unreadable(path: Path, exc: BaseException) -> InputError:
    detail = str(exc).strip() or type(exc).__name__
    if "Truncated" in detail or "incorrect header" in detail or "inflate" in detail:
        detail = f"corrupt or truncated gzip: {detail}"
    elif "straddl" in detail:
        detail = (
            f"a CSV record is longer than {CSV_BLOCK_BYTES >> 20} MiB "
            f"(often a quote that is never closed): {detail}"
        )
    return InputError(f"cannot read file: {detail}", file=str(path))


# --- CSV -------------------------------------------------------------------------------
def _read_csv(path: Path, mapping: Mapping, batch_rows: int, hasher) -> Iterator[_Chunk]:
    found = _csv_header(path)
    header, has_rows = found if found is not None else ([], False)
    if found is not None:
        selected = mapping.select(header)
        mapping.require(header, path)
    if not has_rows:  # nothing, or a header alone: zero rows, but hash the bytes
        with _Stream(path, hasher) as stream:
            while stream.read(_RAW_READ_BYTES):
                pass
            stream.finish()
        return
    raw_names = list(selected.values())
    repeated = [name for name in raw_names if header.count(name) > 1]
    if repeated:
        raise InputError(f"column {repeated[0]!r} appears more than once in the header", file=str(path))

    invalid: list[tuple[int, str, str]] = []

    def on_invalid_row(row) -> str:
        number = row.number if row.number is not None else 0
        invalid.append((number, f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
        return "skip"

    with _Stream(path, hasher) as stream:
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

        def emit(batches: list[pa.RecordBatch], final: bool) -> _Chunk:
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
            early = [(num, reason, _raw_text(text)) for num, reason, text in pending[:cut]]
            pending = pending[cut:]
            if n:
                next_record = int(lines[-1]) + 1
            frame, utf8_rejects, keep = _frame_from_arrow(table, selected, lines)
            return _Chunk(frame=frame, lines=lines[keep] if keep is not None else lines, rejects=early + utf8_rejects)

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


def _csv_header(path: Path) -> tuple[list[str], bool] | None:
    """Column names from the first CSV record, read separately (cheap: one block).

    Returns None for a file with no content, else the names and whether anything follows
    the header (Arrow refuses a header without a line break).
    """
    data = b""
    with _Stream(path) as stream:
        while True:
            block = stream.read(1 << 16)
            data += block
            # Arrow skips a byte-order mark and blank lines before the header; so do we
            data = data.removeprefix(_BOM).lstrip(b"\r\n")
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


def _require(selected: dict[str, str], raw_columns: Sequence[str], path: Path) -> None:
    """InputError naming the file and the first required column no raw column supplies."""
    missing = [c for c in schema.REQUIRED_COLUMNS if c not in selected]
    if missing:
        raise InputError(
            f"missing required column {missing[0]!r}"
            + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f"; columns found: {', '.join(map(str, raw_columns)) or 'none'}",
            file=str(path),
            column=missing[0],
        )


def _frame_from_arrow(table: pa.Table | None, selected: dict[str, str], lines: np.ndarray):
    """Canonical-named pandas frame from Arrow columns; rows with bad UTF-8 set aside.

    Returns
    -------
    tuple
        (frame, rejects as (line, reason, raw) tuples, kept-row mask or None when all kept)
    """
    if table is None:
        return pd.DataFrame({c: pd.Series([], dtype=schema.STRING_DTYPE) for c in selected}), [], None
    arrays: dict[str, pa.ChunkedArray] = {}
    bad = np.zeros(table.num_rows, dtype=bool)
    bad_reason: dict[int, str] = {}
    for canonical, raw in selected.items():
        column = table.column(raw)
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            try:
                column = column.cast(pa.string())
            except pa.ArrowInvalid:
                values = column.to_pylist()
                for i, value in enumerate(values):
                    if value is not None and not bad[i]:
                        try:
                            value.decode("utf-8")
                        except UnicodeDecodeError:
                            bad[i] = True
                            bad_reason[i] = f"invalid UTF-8 in {canonical}"
                column = pa.chunked_array(
                    [pa.array([None if v is None else v.decode("utf-8", "replace") for v in values], pa.string())]
                )
        arrays[canonical] = column
    frame = pd.DataFrame({c: _to_pandas(a) for c, a in arrays.items()})
    if not bad.any():
        return frame, [], None
    rows = np.flatnonzero(bad)
    rejects = [
        (int(lines[i]), bad_reason[i], schema.raw_row(frame.iloc[i].to_dict())) for i in rows
    ]
    keep = ~bad
    return frame.loc[keep].reset_index(drop=True), rejects, keep


def _to_pandas(column: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.Series(pd.arrays.ArrowStringArray(column))
    if pa.types.is_string_view(column.type):
        return pd.Series(pd.arrays.ArrowStringArray(column.cast(pa.large_string())))
    return column.to_pandas()


def _raw_text(text: str) -> str:
    keep = schema.RAW_KEEP
    return text if len(text) <= keep else text[: keep - 1] + "\u2026"


# --- JSON Lines ------------------------------------------------------------------------
def _read_jsonl(path: Path, mapping: Mapping, batch_rows: int, hasher) -> Iterator[_Chunk]:
    selected: dict[str, str] | None = None
    with _Stream(path, hasher) as stream:
        for first_line, data, n_lines in _line_groups(stream, batch_rows):
            if selected is None:
                selected = _jsonl_columns(path, data, mapping)
            yield _parse_jsonl(data, first_line, n_lines, selected, typed=getattr(mapping, "json_typed", False))
        stream.finish()


def _line_groups(stream: _Stream, batch_rows: int) -> Iterator[tuple[int, bytes, int]]:
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
        if first and (len(data) >= len(_BOM) or not block):
            data = data.removeprefix(_BOM)
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


def _jsonl_columns(path: Path, data: bytes, mapping: Mapping) -> dict[str, str]:
    """Canonical -> raw names, from the keys the objects of the first group use."""
    if not isinstance(mapping, Mapping):
        # a mapping file reads nested paths; any of them may appear in later lines
        if data.strip():
            heads = {f: _path_head(f) for f in mapping.fields}
            keys = [f for f, head in heads.items() if json.dumps(f).encode() in data or json.dumps(head).encode() in data]
            mapping.require(list(dict.fromkeys(_first_object_keys(data) + keys)), path)
        return {f: f for f in mapping.fields}
    if not data.strip():
        return mapping.select(schema.EVENT_COLUMNS)
    # a key no object uses cannot appear in the bytes as a quoted string
    candidates = list(schema.EVENT_COLUMNS) + list(mapping.rename)
    keys = [name for name in candidates if json.dumps(name).encode() in data]
    selected = mapping.select(keys)
    _require(selected, list(dict.fromkeys(_first_object_keys(data) + keys)), path)
    # an optional column absent from the first group may still appear later
    renamed_away = set(mapping.rename)
    for canonical in schema.OPTIONAL_COLUMNS:
        if canonical not in selected:
            raw = next((r for r, target in mapping.rename.items() if target == canonical), canonical)
            if raw == canonical and canonical in renamed_away:
                continue
            selected[canonical] = raw
    return {c: selected[c] for c in schema.EVENT_COLUMNS if c in selected}


def _path_head(path: str) -> str:
    from detector.mapping import path_segments

    segments = path_segments(path)
    return str(segments[0]) if segments else path


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


def _parse_jsonl(data: bytes, first_line: int, n_lines: int, selected: dict[str, str], *, typed: bool = False) -> _Chunk:
    """One group of lines: Arrow's reader when the group is clean, else line by line."""
    if not (b"\n\n" in data or b"\n\r\n" in data or data.startswith((b"\n", b"\r\n")) or data == b"\r"):
        # no empty line: the common case, numbered without looking at each line
        frame = (_jsonl_typed if typed else _jsonl_fast)(data, n_lines, selected)
        if frame is not None:
            return _Chunk(frame=frame, lines=np.arange(first_line, first_line + n_lines, dtype=np.int64), rejects=[])
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
    frame = (_jsonl_typed if typed else _jsonl_fast)(data, len(numbers), selected)
    if frame is not None:
        return _Chunk(frame=frame, lines=numbers.astype(np.int64), rejects=[])
    lines = data.split(b"\n")
    kept = [(first_line + i, line) for i, line in enumerate(lines[: len(starts)]) if line.strip()]
    return _jsonl_slow([line for _, line in kept], [n for n, _ in kept], selected, nested=typed)


def _jsonl_fast(data: bytes, rows: int, selected: dict[str, str]) -> pd.DataFrame | None:
    """Arrow's JSON reader, when the lines are clean: UTF-8, one object each, plain types.

    Returns None (so the caller parses line by line) on anything else; both paths give the
    same frame for the lines this one accepts.
    """
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=schema.STRING_DTYPE) for c in selected})
    if not data.isascii():  # Arrow's JSON reader does not check UTF-8
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    raw_names = list(dict.fromkeys(selected.values()))
    for timestamp_type in (pa.string(), pa.float64()):  # ISO strings, or epoch numbers
        types = {raw: pa.string() for raw in raw_names}
        types[selected[schema.TIMESTAMP]] = timestamp_type
        try:
            table = pa_json.read_json(
                pa.BufferReader(data),
                read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) // 8 + 1)),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=pa.schema(list(types.items())),
                    unexpected_field_behavior="ignore",
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if table.num_rows != rows:  # several objects on a line, or a blank line of spaces
            return None
        return pd.DataFrame({c: _to_pandas(table.column(raw)) for c, raw in selected.items()})
    return None


def _jsonl_typed(data: bytes, rows: int, selected: dict[str, str]) -> pd.DataFrame | None:
    """Arrow's JSON reader for a mapping file's fields: nested paths, values of any type.

    The schema is built from the types the first objects give each path (strings stay
    strings, so Arrow never re-reads a timestamp); a block whose types drift, holds an
    empty array where an element is wanted or a nested value where text is, returns None
    and is parsed line by line, which gives the same text.
    """
    from detector.mapping import get_path, path_segments

    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=schema.STRING_DTYPE) for c in selected})
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    samples = []
    for line in data.split(b"\n", 20)[:20]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            samples.append(obj)
    def forms(raw: str) -> list[tuple]:
        # a dotted path may be a literal key ("user.id") or nested objects, even line by line
        segments = path_segments(raw)
        return [(raw,)] + ([segments] if len(segments) > 1 else [])

    tree: dict = {}
    for raw in dict.fromkeys(selected.values()):
        sample = next((v for obj in samples if (v := get_path(obj, raw)) is not None), None)
        leaf = _arrow_type(sample)
        if leaf is None:
            return None
        for segments in forms(raw):
            node = tree
            for i, segment in enumerate(segments):
                last = i == len(segments) - 1
                name = ("[]", segment) if isinstance(segment, int) else segment
                if last:
                    if name in node and node[name] != leaf:
                        return None
                    node[name] = leaf
                else:
                    node = node.setdefault(name, {})
                    if not isinstance(node, dict):
                        return None
    try:
        arrow_schema = pa.schema([(name, _tree_type(sub)) for name, sub in tree.items()])
        table = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) // 8 + 1)),
            parse_options=pa_json.ParseOptions(explicit_schema=arrow_schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    if table.num_rows != rows:
        return None
    out = {}
    try:
        for key, raw in selected.items():
            found = []
            for segments in forms(raw):
                column = table.column(segments[0]).combine_chunks()
                for segment in segments[1:]:
                    if isinstance(segment, int):
                        column = pc.list_element(column, segment)
                    else:
                        column = pc.struct_field(column, segment)
                found.append(column)
            out[key] = _typed_text(pc.coalesce(*found) if len(found) > 1 else found[0])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, IndexError):
        return None
    return pd.DataFrame(out)


def _arrow_type(sample):
    if sample is None or isinstance(sample, str):
        return pa.string()
    if isinstance(sample, bool):
        return pa.bool_()
    if isinstance(sample, int):
        return pa.int64()
    if isinstance(sample, float):
        return pa.float64()
    return None  # a nested value where text is wanted: the line-by-line path writes it as JSON


def _tree_type(node) -> pa.DataType:
    if isinstance(node, pa.DataType):
        return node
    items = list(node.items())
    if items and isinstance(items[0][0], tuple):  # an array: its element type
        (_, _), element = items[0]
        if len(items) > 1:
            raise TypeError("two element paths of one array")
        return pa.list_(_tree_type(element))
    return pa.struct([(name, _tree_type(sub)) for name, sub in items])


def _typed_text(column: pa.Array) -> pd.Series:
    """A leaf as the text :func:`_json_text` gives (integral floats without a fraction)."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        finite = values[~np.isnan(values)]
        if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
            column = pc.cast(column, pa.int64())
    if pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    text = pc.cast(column, pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(text))


def _jsonl_slow(content: list[bytes], numbers: list[int], selected: dict[str, str], *, nested: bool = False) -> _Chunk:
    if nested:
        from detector.mapping import get_path
    rows: list[list[str | None]] = []
    kept: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    raws = list(selected.values())
    for number, line in zip(numbers, content):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            rejects.append((number, "invalid UTF-8", _raw_text(line.decode("utf-8", "replace"))))
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            rejects.append((number, "invalid JSON", _raw_text(text.strip())))
            continue
        if not isinstance(obj, dict):
            rejects.append((number, "not a JSON object", _raw_text(text.strip())))
            continue
        rows.append([_json_text(get_path(obj, raw) if nested else obj.get(raw)) for raw in raws])
        kept.append(number)
    frame = pd.DataFrame(rows, columns=list(selected), dtype=object).astype(schema.STRING_DTYPE)
    return _Chunk(frame=frame, lines=np.asarray(kept, dtype=np.int64), rejects=rejects)


def _json_text(value) -> str | None:
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


# --- Parquet ---------------------------------------------------------------------------
def _read_parquet(path: Path, mapping: Mapping, batch_rows: int, hasher) -> Iterator[_Chunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
    with parquet:
        names = parquet.schema_arrow.names
        selected = mapping.select(names)
        if isinstance(mapping, Mapping):
            schema.require_columns(list(selected), source=str(path))
        else:
            mapping.require(names, path)
        row = 1
        twice = [raw for raw in dict.fromkeys(selected.values()) if names.count(raw) > 1]
        if twice:  # Arrow cannot tell which one is meant
            raise InputError(f"column {twice[0]!r} appears more than once", file=str(path), column=twice[0])
        try:
            for record_batch in parquet.iter_batches(batch_size=batch_rows, columns=list(selected.values())):
                table = _parquet_columns(pa.Table.from_batches([record_batch]), selected)
                lines = np.arange(row, row + table.num_rows, dtype=np.int64)
                row += table.num_rows
                frame, utf8_rejects, keep = _frame_from_arrow(table, {c: c for c in selected}, lines)
                yield _Chunk(frame=frame, lines=lines[keep] if keep is not None else lines, rejects=utf8_rejects)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read Parquet file: {exc}", file=str(path)) from exc


def _parquet_columns(table: pa.Table, selected: dict[str, str]) -> pa.Table:
    """The selected columns of a Parquet batch under canonical names, typed so that
    validation reads them as written: dictionaries decoded; integers as their digits (pandas
    turns an integer column with a missing value into floats, id ``1`` into ``"1.0"``) except
    for the timestamp, which takes them as epoch numbers; fixed-size and view binaries as
    binary, which :func:`_frame_from_arrow` decodes as UTF-8 (a bad value is a reject)."""
    columns = {}
    for canonical, raw in selected.items():
        column = table.column(raw)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        kind = column.type
        if canonical != schema.TIMESTAMP and pa.types.is_integer(kind):
            column = column.cast(pa.string())
        elif pa.types.is_fixed_size_binary(kind) or getattr(pa.types, "is_binary_view", lambda _: False)(kind):
            column = column.cast(pa.binary())
        columns[canonical] = column
    return pa.table(columns) if columns else table


#: format name -> reader; a new format is a new entry here and in :data:`EXTENSIONS`
FORMATS: dict[str, FormatReader] = {
    "csv": _read_csv,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}


# --- read-ahead ------------------------------------------------------------------------
_DONE = object()


def _read_ahead(make: Callable[[], Iterator[_Chunk]], depth: int) -> Iterator[_Chunk]:
    """Run a reader in a background thread, ``depth`` chunks ahead of the consumer.

    Decompression and parsing (Arrow, without the GIL) then overlap validation. Errors are
    re-raised in the consumer; closing the consumer stops the reader.
    """
    if depth < 1:
        yield from make()
        return
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            iterator = make()
            try:
                for item in iterator:
                    if not put((item, None)):
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((None, exc))

    worker = threading.Thread(target=work, name="insiderwatch-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = out.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


# --- roster ----------------------------------------------------------------------------
def read_roster(path: str | Path) -> pd.DataFrame:
    """Read the agent roster CSV.

    Parameters
    ----------
    path : str or Path
        A CSV file (optionally .gz) with a header; only ``agent_id`` is required, the other
        :data:`~detector.schema.ROSTER_COLUMNS` are optional, others are ignored.

    Returns
    -------
    DataFrame
        Exactly :data:`~detector.schema.ROSTER_COLUMNS`, one row per agent in file order:
        strings (stripped, empty as missing; ``role`` lower-cased), ``start_date`` and
        ``end_date`` as ``datetime64[ns]`` dates (missing allowed), ``timezone`` a valid
        IANA name or missing.

    Raises
    ------
    InputError
        Missing file, missing ``agent_id`` column, empty or duplicate ``agent_id``, a date
        that is not YYYY-MM-DD, an end date before the start date, an unknown time zone;
        each names the file and, where there is one, the agent and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("roster file not found", file=str(path))
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            compression="infer",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raw = pd.DataFrame(columns=[schema.AGENT_ID])
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, EOFError) as exc:
        raise InputError(f"cannot read roster: {exc}", file=str(path)) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    schema.require_columns(list(raw.columns), source=str(path), required=(schema.AGENT_ID,))
    lines = np.arange(2, len(raw) + 2)

    roster = pd.DataFrame(index=raw.index)
    for col in schema.ROSTER_COLUMNS:
        if col in raw.columns:
            values = raw[col].astype(schema.STRING_DTYPE).str.strip()
            values = values.mask(values == "")
        else:
            values = pd.Series(pd.NA, index=raw.index, dtype=schema.STRING_DTYPE)
        roster[col] = values
    roster[schema.ROLE] = roster[schema.ROLE].str.lower()

    agents = roster[schema.AGENT_ID]
    if agents.isna().any():
        line = int(lines[agents.isna().to_numpy()][0])
        raise InputError("roster row without agent_id", file=str(path), line=line)
    duplicated = agents.duplicated().to_numpy()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise InputError(
            f"agent {agents.iloc[first]!r} appears more than once in the roster",
            file=str(path),
            line=int(lines[first]),
            agent=agents.iloc[first],
        )

    for col in (schema.START_DATE, schema.END_DATE):
        text = roster[col]
        dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        bad = (text.notna() & dates.isna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{col} {text.iloc[i]!r} of agent {agents.iloc[i]!r} is not a date (YYYY-MM-DD)",
                file=str(path),
                line=int(lines[i]),
                agent=agents.iloc[i],
            )
        late = (dates >= pd.Timestamp("2262-01-01")).to_numpy()
        if late.any():
            i = int(np.flatnonzero(late)[0])
            raise InputError(
                f"{col} {text.iloc[i]!r} of agent {agents.iloc[i]!r} is too far in the future; "
                "leave it empty for no end",
                file=str(path),
                line=int(lines[i]),
                agent=agents.iloc[i],
            )
        roster[col] = dates.astype("datetime64[ns]")
    backwards = (roster[schema.END_DATE] < roster[schema.START_DATE]).to_numpy()
    if backwards.any():
        i = int(np.flatnonzero(backwards)[0])
        raise InputError(
            f"end_date of agent {agents.iloc[i]!r} is before its start_date",
            file=str(path),
            line=int(lines[i]),
            agent=agents.iloc[i],
        )

    for i, zone in enumerate(roster[schema.TIMEZONE]):
        if zone is pd.NA:
            continue
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise InputError(
                f"unknown time zone {zone!r} for agent {agents.iloc[i]!r} (use an IANA name such as 'Europe/Berlin')",
                file=str(path),
                line=int(lines[i]),
                agent=agents.iloc[i],
            ) from exc
    roster = roster.reset_index(drop=True)
    # where it came from, for run manifests (an auditor re-reads and checks this file)
    roster.attrs["source"] = {"path": str(path.resolve()), "sha256": file_sha256(path), "size_bytes": path.stat().st_size}
    return roster
