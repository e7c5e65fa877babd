"""The column operations a mapping file applies, vectorised over a batch: text
normalisation, coalescing, RE2 matching and extraction (Arrow's engine, linear time on
attacker-written fields), row hashes, timestamps in several formats. Pure functions; never
read a file, never see a canonical column name other than through the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector import schema

#: longest raw value quoted in a reject reason
REASON_VALUE_CHARS = 64


def _text(values: pd.Series, index) -> pd.Series:
    """A raw column as strings (stripped, empty as missing); datetimes kept as they are."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.reset_index(drop=True)
        return out
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        missing = values.isna().to_numpy()
        values = values.astype(str).mask(missing)
    out = values.astype(schema.STRING_DTYPE).str.strip().reset_index(drop=True)
    out.index = index
    return out.mask(out == "")


def _coalesce(columns: list[pd.Series], n: int) -> pd.Series:
    if not columns:
        return pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=schema.STRING_DTYPE)
    out = columns[0]
    for other in columns[1:]:
        out = out.fillna(other)
    return out


def _arrow(values: pd.Series) -> pa.Array:
    return pa.array(values.astype(schema.STRING_DTYPE).array, type=pa.large_string(), from_pandas=True) if len(values) else pa.array([], pa.large_string())


def _fullmatch(values: pd.Series, pattern: str) -> np.ndarray:
    if not pd.api.types.is_string_dtype(values.dtype):
        values = values.astype(str).astype(schema.STRING_DTYPE)
    arr = pc.fill_null(_arrow(values), "")
    return np.asarray(pc.fill_null(pc.match_substring_regex(arr, f"^(?:{pattern})$"), False), dtype=bool)


def _extract(values: pd.Series, pattern: str) -> pd.Series:
    arr = _arrow(values)
    found = pc.extract_regex(arr, pattern)
    out = pc.if_else(pc.is_valid(found), pc.struct_field(found, "value"), pa.scalar(None, pa.large_string()))
    series = pd.Series(pd.arrays.ArrowStringArray(out.cast(pa.large_string())), index=values.index).astype(schema.STRING_DTYPE)
    return series.mask(series == "")


def _quoted(values: pd.Series) -> pd.Series:
    text = values.astype(schema.STRING_DTYPE).fillna("").str.slice(0, REASON_VALUE_CHARS)
    return "'" + text + "'"


def _hash_rows(columns: list[pd.Series], n: int) -> pd.Series:
    if not columns:
        return pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=schema.STRING_DTYPE)
    frame = pd.DataFrame({i: c.astype(schema.STRING_DTYPE).fillna("").astype(object) for i, c in enumerate(columns)})
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    hexed = np.char.zfill(np.char.mod("%x", hashed), 16) if n else np.array([], dtype=str)
    return pd.Series(hexed, dtype=schema.STRING_DTYPE)


def parse_with_formats(values: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Timestamps from text, trying each format on what the earlier ones left unparsed."""
    out = pd.Series(pd.NaT, index=values.index, dtype=schema.TIMESTAMP_DTYPE)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return schema.parse_timestamps(values)
    todo = values.notna().to_numpy().copy()
    for fmt in formats:
        if not todo.any():
            break
        part = values[todo]
        if fmt == "iso":
            parsed = schema.parse_timestamps(part)
        elif fmt in ("epoch_s", "epoch_ms"):
            numbers = pd.to_numeric(part, errors="coerce").astype("float64")
            ms = numbers * (1000.0 if fmt == "epoch_s" else 1.0)
            ok = ms.notna() & (ms.abs() < 9.2e12)
            parsed = pd.Series(pd.NaT, index=part.index, dtype=schema.TIMESTAMP_DTYPE)
            if ok.any():
                parsed[ok] = pd.to_datetime(ms[ok].round().astype("int64"), unit="ms", utc=True)
        else:
            parsed = pd.to_datetime(part, format=fmt, utc=True, errors="coerce")
            parsed = parsed.astype(schema.TIMESTAMP_DTYPE) if len(parsed) else parsed
        parsed = pd.Series(parsed, index=part.index).astype(schema.TIMESTAMP_DTYPE).reindex(out.index)
        out = out.where(out.notna(), parsed)
        todo = todo & out.isna().to_numpy()
    return out
