"""Reading: input specs to validated canonical event batches, with per-file accounting.

:func:`read_events` resolves a spec, reads each file with its format's reader (from the
registry), passes every chunk through the mapping's ``transform`` and
:func:`detector.schema.validate`, and records a :class:`FileStats` per file. The rules it
keeps (accounting, line numbers, whole-file errors) are stated in :mod:`detector.sources`.
It must never write anything and never hold more than a batch (plus the read-ahead).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from detector import schema
from detector.errors import InputError
from detector.sources.columns import ColumnMapping, as_mapping
from detector.sources.inputs import check_inputs, format_of
from detector.sources.readahead import read_ahead
from detector.sources.registry import FORMATS
from detector.sources.results import Batch, Chunk, FileStats, IngestReport, Loaded
from detector.sources.stream import sha256_of

#: rows per batch; a batch of canonical events is roughly 100 MB of pandas memory per 250k
DEFAULT_BATCH_ROWS = 250_000
#: batches the background reader may get ahead of validation
READ_AHEAD = 2


def read_events(
    spec: str | Path | Sequence[str | Path],
    *,
    mapping: ColumnMapping | dict[str, str] | None = None,
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
    mapping : ColumnMapping or dict of str to str, optional
        A mapping (:class:`Mapping`, :class:`detector.mapping.FileMapping`), or raw ->
        canonical column names, taken as :attr:`Mapping.rename`; None: canonical files.
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


def read_file(
    path: str | Path,
    *,
    mapping: ColumnMapping | dict[str, str] | None = None,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    report: IngestReport | None = None,
) -> Iterator[Batch]:
    """Read one file as validated canonical event batches; see :func:`read_events`."""
    path = Path(path)
    fmt = format_of(path, fmt)
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    mapping = as_mapping(mapping)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
    hasher = hashlib.sha256()
    read = accepted = rejected = 0
    counted: tuple[int, int, int] | None = None
    if size:
        reader = FORMATS[fmt].read
        chunks = read_ahead(lambda: reader(path, mapping, batch_rows, hasher), READ_AHEAD)
        try:
            for chunk in chunks:
                if chunk.line_counts is not None:
                    counted = chunk.line_counts
                batch = _validate_chunk(chunk, path, mapping)
                read += batch.rows_read
                accepted += len(batch.accepted)
                rejected += len(batch.rejects)
                yield batch
        finally:
            chunks.close()
    if not FORMATS[fmt].hashes_bytes or not size:
        hasher = sha256_of(path)
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
                lines=counted[0] if counted is not None else None,
                blank_lines=counted[1] if counted is not None else None,
                records=counted[2] if counted is not None else None,
            )
        )


def load_events(
    spec: str | Path | Sequence[str | Path],
    *,
    mapping: ColumnMapping | dict[str, str] | None = None,
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


def _validate_chunk(chunk: Chunk, path: Path, mapping: ColumnMapping) -> Batch:
    source = str(path)
    frame, lines, early_rejects = chunk.frame, chunk.lines, chunk.rejects
    # raw fields -> canonical columns, with the mapping's own rejects
    frame, reasons = mapping.transform(frame.reset_index(drop=True))
    if reasons is not None:
        bad = reasons != None  # noqa: E711  (elementwise on an object array)
        raw = chunk.frame.reset_index(drop=True).loc[bad]
        early_rejects = list(early_rejects) + [(int(line), str(reason), schema.raw_row(record)) for line, reason, record in zip(lines[bad], reasons[bad], raw.to_dict("records"))]
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
