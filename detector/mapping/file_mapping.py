"""The loaded mapping file, applied batch by batch: raw fields in, canonical columns and
reasons for the rows it cannot map out. Never reads a file (its lookup table is loaded
with it) and never lets a raw field name out of :meth:`FileMapping.transform`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from detector import schema
from detector.mapping.specs import ColumnSpec, Lookup, ValueSpec
from detector.mapping.vectors import _coalesce, _extract, _fullmatch, _hash_rows, _quoted, _text, parse_with_formats
from detector.sources.columns import missing_columns_error
from detector.sources.jsonpath import path_head, path_segments


@dataclass(frozen=True)
class FileMapping:
    """A loaded mapping file: what :mod:`detector.sources` applies batch by batch.

    A :class:`~detector.sources.ColumnMapping`, as the rename :class:`~detector.sources.Mapping` is.

    ``select`` names the raw fields to read; ``transform`` turns a batch of them (a frame
    keyed by raw field) into canonical columns, with a reason for every row it cannot map.
    """

    name: str
    source: str
    sha256: str
    columns: dict[str, ColumnSpec]
    fmt: str | None = None
    description: str = ""
    lookup_key: str | None = None
    lookup_path: str | None = None
    lookup: Lookup | None = field(default=None, compare=False)

    #: JSON values are read with their own types (ids are often numbers), not as strings
    json_typed = True

    # fields ---------------------------------------------------------------------------
    @property
    def fields(self) -> list[str]:
        """Every raw field the mapping reads, in the order the file names them."""
        plain: list[str] = []
        for col in self.columns.values():
            for f in col.fields(()):
                if f != "row":
                    plain.append(f)
        return list(dict.fromkeys(plain))

    def select(self, raw_columns: Iterable[str]) -> dict[str, str]:
        """Raw field -> raw field, for the fields present (JSON: by their first segment)."""
        present = set(raw_columns)
        out = {}
        for f in self.fields:
            head = path_segments(f)[0] if f not in present else f
            if f in present or head in present:
                out[f] = f
        return out

    def coverage(self, raw_columns: Iterable[str]) -> dict[str, str | None]:
        """Canonical column -> what supplies it in a file with these fields (None: nothing)."""
        present = set(self.select(raw_columns))
        out: dict[str, str | None] = {}
        for canonical in schema.EVENT_COLUMNS:
            col = self.columns.get(canonical)
            if col is None:
                out[canonical] = None
                continue
            parts = []
            for rule in col.rules:
                if self._suppliable(rule.spec, present) and all(f in present for f, _ in rule.when):
                    cond = ", ".join(f"{f}~/{p}/" for f, p in rule.when)
                    parts.append(f"when {cond}: {rule.spec.describe()}")
            if not col.spec.empty and self._suppliable(col.spec, present):
                parts.append(("else " if parts else "") + col.spec.describe())
            out[canonical] = "; ".join(parts) if parts else None
        return out

    def _suppliable(self, spec: ValueSpec, present: set[str]) -> bool:
        if spec.value is not None or spec.default is not None or spec.hash is not None:
            return True
        return any(s in present for s in spec.sources)

    def require(self, raw_columns: Sequence[str], path: str | Path) -> None:
        """InputError naming the first required column nothing in this file supplies."""
        cover = self.coverage(raw_columns)
        missing = [c for c in schema.REQUIRED_COLUMNS if cover[c] is None]
        if missing:
            col = self.columns.get(missing[0])
            wanted = ", ".join(col.fields(self.fields)) if col else "nothing (the mapping has no entry)"
            raise missing_columns_error(missing, raw_columns, path, mapping=self.name, reads=wanted)

    def select_streamed(self, used: Callable[[str], bool] | None, found: Sequence[str], path: str | Path) -> dict[str, str]:
        """Every field, by itself: nested paths may appear in any later record (see
        :class:`~detector.sources.ColumnMapping`); checked against the first records."""
        if used is not None:
            keys = [f for f in self.fields if used(f) or used(path_head(f))]
            self.require(list(dict.fromkeys([*found, *keys])), path)
        return {f: f for f in self.fields}

    # applying -------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Canonical columns from a batch keyed by raw field.

        Returns the canonical frame (same rows, same order) and, per row, the reason the
        mapping rejects it (an object array, None where the row is fine), or None when no
        row is rejected.
        """
        n = len(frame)
        index = pd.RangeIndex(n)
        text = {f: _text(frame[f], index) for f in frame.columns}
        nulls = pd.Series(pd.NA, index=index, dtype=schema.STRING_DTYPE)

        def get(f: str) -> pd.Series:
            return text.get(f, nulls)

        reasons = np.full(n, None, dtype=object)
        out: dict[str, pd.Series] = {}
        for canonical, col in self.columns.items():
            values, why = self._column(col, get, n)
            out[canonical] = values
            if canonical in schema.REQUIRED_COLUMNS and why is not None:
                fill = (reasons == None) & why.notna().to_numpy()  # noqa: E711  (elementwise on an object array)
                reasons[fill] = why.to_numpy(dtype=object)[fill]
        result = pd.DataFrame(out, index=index)
        return result, (reasons if (reasons != None).any() else None)  # noqa: E711  (elementwise)

    def _column(self, col: ColumnSpec, get, n: int) -> tuple[pd.Series, pd.Series | None]:
        is_ts = col.canonical == schema.TIMESTAMP
        empty = pd.Series(pd.NaT if is_ts else pd.NA, index=pd.RangeIndex(n), dtype=schema.TIMESTAMP_DTYPE if is_ts else schema.STRING_DTYPE)
        values = empty.copy()
        why = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=schema.STRING_DTYPE)
        decided = np.zeros(n, dtype=bool)
        for rule in col.rules:
            mask = ~decided
            for f, pattern in rule.when:
                if not mask.any():
                    break
                mask = mask & _fullmatch(get(f), pattern)
            if not mask.any():
                continue
            idx = np.flatnonzero(mask)
            v, w = self._values(rule.spec, get, idx, is_ts)
            values.iloc[idx] = v.to_numpy()
            why.iloc[idx] = w.to_numpy() if w is not None else pd.NA
            decided = decided | mask
        rest = np.flatnonzero(~decided)
        if len(rest) and not col.spec.empty:
            v, w = self._values(col.spec, get, rest, is_ts)
            values.iloc[rest] = v.to_numpy()
            if w is not None:
                why.iloc[rest] = w.to_numpy()
        elif len(rest) and col.rules:
            fields = col.when_fields()[:2]
            sub = pd.Series(f"{col.canonical}: no rule matches", index=rest, dtype=schema.STRING_DTYPE)
            for f in fields:
                sub = sub + f" {f} " + _quoted(get(f).iloc[rest])
            why.iloc[rest] = sub.to_numpy()
        if is_ts:
            unparsed = values.isna().to_numpy() & why.isna().to_numpy()
            raw = self._raw_timestamp(col, get, n)
            bad = unparsed & raw.notna().to_numpy()
            if bad.any():
                why[bad] = ("unparseable timestamp " + _quoted(raw[bad])).to_numpy()
        return values, (why if why.notna().any() else None)

    def _raw_timestamp(self, col: ColumnSpec, get, n: int) -> pd.Series:
        specs = [col.spec] + [r.spec for r in col.rules]
        sources = [s for spec in specs for s in spec.sources]
        return _coalesce([get(s) for s in dict.fromkeys(sources)], n)

    def _values(self, spec: ValueSpec, get, idx: np.ndarray, is_ts: bool) -> tuple[pd.Series, pd.Series | None]:
        """Values of one spec for the rows ``idx`` (positions), and reasons where it fails."""
        n = len(idx)

        def sub(f: str) -> pd.Series:
            return get(f).iloc[idx].reset_index(drop=True)

        if spec.value is not None:
            values = pd.Series([spec.value] * n, dtype=schema.STRING_DTYPE)
        elif spec.hash is not None:
            names = self.fields if spec.hash == ("row",) else list(spec.hash)
            values = _hash_rows([sub(f) for f in names], n)
        else:
            values = _coalesce([sub(f) for f in spec.sources], n)
        why = None
        if spec.extract is not None:
            values = _extract(values, spec.extract)
        if spec.map:
            mapped = values.map(spec.map)
            values = mapped.astype(schema.STRING_DTYPE).fillna(values)
        if spec.lookup is not None:
            values, why = self._join(values, spec)
        if spec.default is not None:
            values = values.fillna(spec.default)
        if is_ts:
            values = parse_with_formats(values, spec.formats or ("iso",))
        return values, why

    def _join(self, keys: pd.Series, spec: ValueSpec) -> tuple[pd.Series, pd.Series]:
        what = "lookup key" + (f" (from {' or '.join(spec.sources)})" if spec.sources else "")
        if self.lookup is None:
            why = pd.Series(f"{what} needs the lookup table (give --lookup FILE or [lookup] path)", index=keys.index, dtype=schema.STRING_DTYPE)
            return pd.Series(pd.NA, index=keys.index, dtype=schema.STRING_DTYPE), why.where(keys.notna(), f"empty {what}")
        if spec.lookup not in self.lookup.table:
            return pd.Series(pd.NA, index=keys.index, dtype=schema.STRING_DTYPE), None
        table = self.lookup.table[spec.lookup]
        values = keys.map(table).astype(schema.STRING_DTYPE)
        missing = values.isna() & keys.notna()
        why = pd.Series(pd.NA, index=keys.index, dtype=schema.STRING_DTYPE)
        if missing.any():
            found = keys[missing].isin(table.index)
            text = (
                "lookup key "
                + _quoted(keys[missing])
                + f" (from {' or '.join(spec.sources)})"
                + pd.Series(
                    np.where(found.to_numpy(), f" has no {spec.lookup} in the lookup table {self.lookup.path.name}", f" not in the lookup table {self.lookup.path.name}"),
                    index=keys[missing].index,
                )
            )
            why[missing] = text
        return values, why

    def with_lookup(self, lookup: Lookup | None) -> FileMapping:
        return FileMapping(**{**{f: getattr(self, f) for f in self.__dataclass_fields__}, "lookup": lookup})
