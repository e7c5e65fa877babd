"""What reading yields and records: batches, per-file statistics, the ingest report.

Plain values, no behaviour beyond sums; this module must never read a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Chunk:
    """Rows of one file before validation, keyed as the mapping selected them, and rows
    the reader already rejected (wrong field count, invalid JSON or UTF-8)."""

    frame: pd.DataFrame
    lines: np.ndarray
    rejects: list[tuple[int, str, str]]  # (line, reason, raw text)
    #: the file's (lines, blank_lines, records) (see :class:`FileStats`), on a reader's
    #: last chunk only
    line_counts: tuple[int, int, int] | None = None


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
    #: CSV only (else None): the file's physical lines (ended by \n, \r\n or \r; the header
    #: and blank lines included), how many were blank, and the records the rest made (the
    #: header included, so ``records == rows_read + 1`` once there is a header); a record
    #: spans several lines when a quoted field holds line breaks:
    #: ``lines >= blank_lines + records``
    lines: int | None = None
    blank_lines: int | None = None
    records: int | None = None


class _Total:
    """A read-only attribute: the sum of the same attribute over the report's files."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, report: IngestReport | None, owner: type | None = None) -> int:
        return sum(getattr(f, self.name) or 0 for f in report.files) if report is not None else 0


@dataclass
class IngestReport:
    """Per-file accounting of a read, filled in as each file is consumed to its end.

    A file whose batches were not all consumed (the caller stopped early) is not recorded.
    """

    files: list[FileStats] = field(default_factory=list)

    rows_read = _Total()
    rows_accepted = _Total()
    rows_rejected = _Total()
    size_bytes = _Total()
    #: summed over the files that count them (CSV)
    lines = _Total()
    blank_lines = _Total()
    records = _Total()


@dataclass(frozen=True)
class Loaded:
    """Everything a (small) input holds, concatenated: see :func:`load_events`."""

    events: pd.DataFrame
    rejects: pd.DataFrame
    report: IngestReport
