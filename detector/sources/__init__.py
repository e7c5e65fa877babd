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
  number of fields is rejected with the reason ``"expected N fields, found M"``; a quoted
  field that runs past ``csv.MAX_FIELD_LINES`` lines or ``csv.MAX_FIELD_BYTES`` bytes (an
  unclosed quote) is rejected on its own (``"unclosed quote: ..."``) and reading resumes at
  the next line, so one stray quote cannot swallow the file; a record whose used fields are
  not valid UTF-8 is rejected with ``"invalid UTF-8 in <column>"``. Physical lines are
  counted beside records (``FileStats.lines``, ``blank_lines``, ``records``), so lines
  joined into records by quoted line breaks are visible.
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

Layout
------
One module per job, readers behind a registry (:mod:`detector.sources.registry`):
``inputs`` (specs to files, formats, raw columns), ``read`` (the loop above), ``columns``
(the :class:`ColumnMapping` Protocol and the rename :class:`Mapping`), ``csv``, ``jsonl``
(with ``jsonl_arrow``), ``parquet``, ``stream`` (decompression and digests), ``arrow``,
``readahead``, ``results``, ``roster``. Only this package (and the mapping files it
applies) knows raw field names.
"""

from __future__ import annotations

from detector.sources.columns import ColumnMapping, Mapping, as_mapping, missing_columns_error, require_present
from detector.sources.csv import CSV_BLOCK_BYTES, csv_header
from detector.sources.inputs import check_inputs, detect_format, raw_columns, resolve_inputs
from detector.sources.jsonl import JSONL_READ_BYTES
from detector.sources.read import DEFAULT_BATCH_ROWS, READ_AHEAD, load_events, read_events, read_file
from detector.sources.registry import EXTENSIONS, FORMATS, FormatReader, SourceFormat, register
from detector.sources.results import Batch, FileStats, IngestReport, Loaded
from detector.sources.roster import read_roster
from detector.sources.stream import file_sha256

#: the header of a CSV file, by its old name (``pipelines/validate_logs.py`` reads it)
_csv_header = csv_header

__all__ = [
    "CSV_BLOCK_BYTES",
    "DEFAULT_BATCH_ROWS",
    "EXTENSIONS",
    "FORMATS",
    "JSONL_READ_BYTES",
    "READ_AHEAD",
    "Batch",
    "ColumnMapping",
    "FileStats",
    "FormatReader",
    "IngestReport",
    "Loaded",
    "Mapping",
    "SourceFormat",
    "as_mapping",
    "check_inputs",
    "csv_header",
    "detect_format",
    "file_sha256",
    "load_events",
    "missing_columns_error",
    "raw_columns",
    "read_events",
    "read_file",
    "read_roster",
    "register",
    "require_present",
    "resolve_inputs",
]
