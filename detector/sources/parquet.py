"""Parquet: the reader, row group by row group, and the schema's column names.

What counts as a row and how rows are numbered is stated in :mod:`detector.sources`. Only
the columns the mapping selects are read; typed columns keep their types where validation
wants them (epoch timestamps) and become their text elsewhere (integer ids). This module
never renames a column: the mapping does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detector import schema
from detector.errors import InputError
from detector.sources.arrow import frame_from_arrow
from detector.sources.columns import ColumnMapping
from detector.sources.results import Chunk


def read_parquet(path: Path, mapping: ColumnMapping, batch_rows: int, hasher: hashlib._Hash) -> Iterator[Chunk]:
    """Chunks of a Parquet file (see :data:`detector.sources.registry.FormatReader`); the
    caller hashes the file, which this reads by row group, not front to back."""
    with _open(path) as parquet:
        names = parquet.schema_arrow.names
        selected = mapping.select(names)
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
                frame, utf8_rejects, keep = frame_from_arrow(table, {c: c for c in selected}, lines)
                yield Chunk(frame=frame, lines=lines[keep] if keep is not None else lines, rejects=utf8_rejects)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read Parquet file: {exc}", file=str(path)) from exc


def _parquet_columns(table: pa.Table, selected: dict[str, str]) -> pa.Table:
    """The selected columns of a Parquet batch under canonical names, typed so that
    validation reads them as written: dictionaries decoded; integers as their digits (pandas
    turns an integer column with a missing value into floats, id ``1`` into ``"1.0"``) except
    for the timestamp, which takes them as epoch numbers; fixed-size and view binaries as
    binary, which :func:`~detector.sources.arrow.frame_from_arrow` decodes as UTF-8 (a bad value is a reject)."""
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


def raw_columns(path: Path) -> list[str]:
    """The column names of a Parquet file's schema."""
    with _open(path) as parquet:
        return list(parquet.schema_arrow.names)


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
