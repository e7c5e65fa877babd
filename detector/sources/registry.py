"""The source formats by name, and the file name endings that imply each.

A format is a reader and a way to list a file's raw columns; :data:`FORMATS` holds one
:class:`SourceFormat` per name and :data:`EXTENSIONS` the endings they claim. A new format
is a new module and one :func:`register` call here, never an ``if fmt == ...`` branch
elsewhere. This module only wires; it must never read a file itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from detector.sources import csv, jsonl, parquet
from detector.sources.columns import ColumnMapping
from detector.sources.results import Chunk

#: a format reader: (path, mapping, batch_rows, hasher) -> chunks; it raises InputError for a
#: missing required column before yielding anything, and updates ``hasher`` with every byte
#: of the file when it reads them all itself (see :attr:`SourceFormat.hashes_bytes`)
FormatReader = Callable[[Path, ColumnMapping, int, "hashlib._Hash"], Iterator[Chunk]]


@dataclass(frozen=True)
class SourceFormat:
    """One input format.

    ``read`` yields a file's chunks; ``raw_columns`` lists the raw column names a file
    offers; ``suffixes`` are the file name endings that imply the format (lower case);
    ``hashes_bytes`` says the reader feeds every stored byte to the hasher it is given
    (else the caller hashes the file after reading it).
    """

    name: str
    suffixes: tuple[str, ...]
    read: FormatReader
    raw_columns: Callable[[Path], list[str]]
    hashes_bytes: bool = True


#: format name -> format
FORMATS: dict[str, SourceFormat] = {}
#: file name endings -> format name; longest ending wins
EXTENSIONS: dict[str, str] = {}


def register(source_format: SourceFormat) -> SourceFormat:
    """Add a format; a name or an ending already taken is a ValueError."""
    if source_format.name in FORMATS:
        raise ValueError(f"format {source_format.name!r} is registered twice")
    taken = [s for s in source_format.suffixes if s in EXTENSIONS]
    if taken:
        raise ValueError(f"ending {taken[0]!r} already means format {EXTENSIONS[taken[0]]!r}")
    FORMATS[source_format.name] = source_format
    EXTENSIONS.update(dict.fromkeys(source_format.suffixes, source_format.name))
    return source_format


register(SourceFormat("csv", (".csv", ".csv.gz"), csv.read_csv, csv.raw_columns))
register(SourceFormat("jsonl", (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"), jsonl.read_jsonl, jsonl.raw_columns))
# a Parquet file is read by row group, not front to back: the caller hashes it
register(SourceFormat("parquet", (".parquet", ".pq"), parquet.read_parquet, parquet.raw_columns, hashes_bytes=False))
