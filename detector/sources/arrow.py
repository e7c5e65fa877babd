"""Arrow columns to the pandas frames validation takes, shared by the readers.

Text stays Arrow-backed (no copy to Python objects); binary columns are decoded as UTF-8
and a row holding a bad value is set aside as a reject, never dropped. This module never
sees a raw field name: it is handed columns keyed as the mapping selected them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from detector import schema


def frame_from_arrow(table: pa.Table | None, selected: dict[str, str], lines: np.ndarray) -> tuple[pd.DataFrame, list[tuple[int, str, str]], np.ndarray | None]:
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
                column = pa.chunked_array([pa.array([None if v is None else v.decode("utf-8", "replace") for v in values], pa.string())])
        arrays[canonical] = column
    frame = pd.DataFrame({c: to_pandas(a) for c, a in arrays.items()})
    if not bad.any():
        return frame, [], None
    rows = np.flatnonzero(bad)
    rejects = [(int(lines[i]), bad_reason[int(i)], schema.raw_row(frame.iloc[i].to_dict())) for i in rows]
    keep = ~bad
    return frame.loc[keep].reset_index(drop=True), rejects, keep


def to_pandas(column: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.Series(pd.arrays.ArrowStringArray(column))
    if pa.types.is_string_view(column.type):
        return pd.Series(pd.arrays.ArrowStringArray(column.cast(pa.large_string())))
    return column.to_pandas()
