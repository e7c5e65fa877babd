"""Mapping files: how a support tool's export becomes canonical access events.

A mapping is a small declarative TOML file (trusted: it comes from whoever runs insiderwatch)
that says, for each canonical column, which raw field supplies it and how: renames with
several candidate names, timestamp formats, value maps (action normalisation), extraction by
regular expression, constants, conditional rules, a join with a lookup table, and an event id
hashed from the row. :func:`load_mapping` turns a built-in name or a file path into a
:class:`FileMapping`; :mod:`detector.sources` only calls its ``select`` / ``transform``
methods, batch by batch (so memory stays bounded), and never learns a raw name itself.

This module reads a mapping file or lookup table only when asked (never at import), knows
no vendor (the vendors live in ``detector/mappings/*.toml``), and never lets a log value
reach anything but string comparison: regular expressions come from the mapping file and run
on Arrow's RE2 engine, whose matching time is linear in the input (no catastrophic
backtracking on attacker-written fields).

Mapping file keys
-----------------
Top level:

``name`` (str)
    The mapping's name (default: the file name without ``.toml``).
``description`` (str)
    One line on what export this reads.
``format`` (``"csv"``, ``"jsonl"``, ``"parquet"``)
    Format of the files, when their names do not say it.
``[lookup]``
    A user-supplied CSV table joined on a key: ``path`` (relative to the mapping file; the
    command line's ``--lookup`` overrides it), ``key`` (the table's key column). A column
    rule takes a table column with ``lookup = "column"``.
``[columns]``
    One entry per canonical column (timestamp, agent_id, customer_id, action, ticket_id,
    resource, customer_tier, session_id, source_ip, event_id). The entry is a raw field name,
    a list of candidate names (the first one present and non-empty in a row wins), or a table
    with the keys below.

A column table (and each of its ``rules``) takes:

``from`` (str or list of str)
    Candidate raw fields. In JSON, a dotted path reaches into nested objects
    (``actor.user.uid``) and ``[0]`` takes the first element of an array
    (``web_resources[0].uid``); a literal key with dots (``"user.id"``) is found too. In CSV
    and Parquet a field is a header name, matched exactly (never a position).
``value`` (str)
    A constant instead of a field.
``hash`` (list of str, or ``"row"``)
    A 64-bit hash of these fields (``"row"``: every field the mapping reads), written as 16
    hex digits; for an event id when the source has no unique one.
``extract`` (str)
    A regular expression (RE2 syntax) searched in the value; the value becomes its only
    capture group (or its group named ``value``); no match gives no value.
``map`` (table)
    Value -> canonical value, applied after ``extract``; values not listed are kept as they
    are (``action``, ``resource`` and ``customer_tier`` are lower-cased afterwards).
``lookup`` (str)
    The value is a key of the lookup table; take this table column. A key not in the table
    rejects the row (required columns) naming the key.
``formats`` (list of str; ``timestamp`` only)
    Tried in order, each on the values the previous ones could not parse: ``"iso"``
    (ISO-8601 with offset or Z, naive = UTC, or epoch seconds/ms), ``"epoch_s"``,
    ``"epoch_ms"``, or a strftime pattern such as ``"%Y%m%d%H%M%S.%f"`` (taken as UTC).
``default`` (str)
    The value when nothing else gives one.
``rules`` (column tables only: list of tables)
    Conditional sources, first match wins: each rule has ``when`` (a table of raw field ->
    regular expression that must match the whole value; an absent field is the empty
    string) and the value keys above. Rows no rule matches use the column's own keys, if
    any; a required column left without a value rejects the row with a reason naming the
    fields the rules looked at.

Rows read = rows accepted + rows rejected holds: a row the mapping cannot give a required
column is rejected with its reason, never dropped.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping as AnyMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector import schema
from detector.errors import InputError, UsageError

#: where the built-in mappings live (package data)
BUILTIN_DIR = Path(__file__).with_name("mappings")
#: longest raw value quoted in a reject reason
REASON_VALUE_CHARS = 64

_TIMESTAMP_FORMATS = ("iso", "epoch_s", "epoch_ms")
_VALUE_KEYS = {"from", "value", "hash", "extract", "map", "lookup", "formats", "default"}
_COLUMN_KEYS = _VALUE_KEYS | {"rules"}
_RULE_KEYS = _VALUE_KEYS | {"when"}
_TOP_KEYS = {"name", "description", "format", "lookup", "columns"}
_LOOKUP_KEYS = {"path", "key"}


# --- registry --------------------------------------------------------------------------
def builtin_mappings() -> dict[str, Path]:
    """Name -> file of every mapping shipped with insiderwatch, sorted by name."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def builtin_descriptions() -> dict[str, str]:
    """Name -> one-line description of every built-in mapping."""
    out = {}
    for name, path in builtin_mappings().items():
        try:
            out[name] = str(tomllib.loads(path.read_text(encoding="utf-8")).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError):
            out[name] = ""
    return out


def resolve_mapping(name_or_path: str) -> tuple[str, Path]:
    """(what to record, file) for a built-in name or a mapping file path.

    A built-in is recorded by its name, a file by its absolute path, so a later ``verify``
    reads the same mapping from any working directory.
    """
    builtins = builtin_mappings()
    if name_or_path in builtins:
        return name_or_path, builtins[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return str(path.resolve()), path.resolve()
    raise UsageError(
        f"no mapping {name_or_path!r}: neither a built-in mapping ({', '.join(builtins)}) nor a file"
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- fields ----------------------------------------------------------------------------
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_segments(path: str) -> tuple[str | int, ...]:
    """``"web_resources[0].uid"`` -> ``("web_resources", 0, "uid")``."""
    segments: list[str | int] = []
    for name, index in _SEGMENT.findall(path):
        segments.append(int(index) if index else name)
    return tuple(segments)


def get_path(obj: dict, path: str):
    """A JSON object's value at ``path`` (a literal key first, then the nested path)."""
    if path in obj:
        return obj[path]
    value = obj
    for segment in path_segments(path):
        if isinstance(segment, int):
            if not isinstance(value, list) or len(value) <= segment:
                return None
            value = value[segment]
        else:
            if not isinstance(value, dict) or segment not in value:
                return None
            value = value[segment]
    return value


# --- regular expressions ---------------------------------------------------------------
def _check_regex(pattern, key: str, origin: str) -> str:
    if not isinstance(pattern, str):
        raise UsageError(f"{key} must be a regular expression (a string), got {pattern!r} ({origin})")
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UsageError(f"{key}: invalid regular expression {pattern!r}: {exc} ({origin})") from None
    return pattern


def _extract_pattern(pattern, key: str, origin: str) -> str:
    """The pattern with its single capture group named ``value`` (what Arrow's extract needs)."""
    _check_regex(pattern, key, origin)
    try:
        compiled = re.compile(pattern)
    except re.error:
        compiled = None
    if compiled is not None and "value" in compiled.groupindex:
        return pattern
    if compiled is None or compiled.groups != 1 or compiled.groupindex:
        raise UsageError(f"{key}: {pattern!r} must have exactly one capture group, e.g. '/tickets/(\\d+)' ({origin})")
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(" and not pattern.startswith("(?", i):
            out.append("(?P<value>")
            out.append(pattern[i + 1 :])
            return "".join(out)
        out.append(c)
        i += 1
    raise UsageError(f"{key}: {pattern!r} must have exactly one capture group ({origin})")  # pragma: no cover


# --- specs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ValueSpec:
    """How one value is made (a column's own keys, or one rule's)."""

    sources: tuple[str, ...] = ()
    value: str | None = None
    hash: tuple[str, ...] | None = None
    extract: str | None = None
    map: dict[str, str] | None = None
    lookup: str | None = None
    formats: tuple[str, ...] | None = None
    default: str | None = None

    @property
    def empty(self) -> bool:
        return not self.sources and self.value is None and self.hash is None and self.default is None

    def fields(self, all_fields: Sequence[str]) -> list[str]:
        if self.hash == ("row",):
            return list(all_fields)
        return list(self.sources) + list(self.hash or ())

    def describe(self) -> str:
        if self.value is not None:
            text = f"constant {self.value!r}"
        elif self.hash is not None:
            text = "hash of " + ("the row" if self.hash == ("row",) else ", ".join(self.hash))
        elif self.sources:
            text = " or ".join(self.sources)
        else:
            text = f"default {self.default!r}"
        if self.extract:
            text += f" ~ /{self.extract}/"
        if self.map:
            text += f" mapped ({len(self.map)} values)"
        if self.lookup:
            text += f" -> lookup.{self.lookup}"
        return text


@dataclass(frozen=True)
class Rule:
    when: tuple[tuple[str, str], ...]
    spec: ValueSpec


@dataclass(frozen=True)
class ColumnSpec:
    canonical: str
    spec: ValueSpec
    rules: tuple[Rule, ...] = ()

    def fields(self, all_fields: Sequence[str]) -> list[str]:
        out = self.spec.fields(all_fields)
        for rule in self.rules:
            out += [f for f, _ in rule.when] + rule.spec.fields(all_fields)
        return list(dict.fromkeys(out))

    def when_fields(self) -> list[str]:
        return list(dict.fromkeys(f for rule in self.rules for f, _ in rule.when))


@dataclass(frozen=True)
class Lookup:
    """A user-supplied table: key -> columns (loaded once per read)."""

    path: Path
    key: str
    sha256: str
    table: dict[str, pd.Series] = field(repr=False, compare=False)


def load_lookup(path: str | Path, key: str) -> Lookup:
    """Read a lookup CSV (strings, stripped); duplicate keys with different rows are errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError("lookup table not found", file=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", compression="infer")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError) as exc:
        raise InputError(f"cannot read lookup table: {exc}", file=str(path)) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if key not in frame.columns:
        raise InputError(f"lookup table has no key column {key!r}; columns found: {', '.join(frame.columns)}", file=str(path), column=key)
    frame = frame.apply(lambda col: col.str.strip())
    frame = frame[frame[key] != ""].drop_duplicates()
    dup = frame[key].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"lookup key {frame[key].iloc[i]!r} appears more than once with different values", file=str(path), column=key)
    indexed = frame.set_index(key)
    table = {c: indexed[c].replace("", pd.NA).astype(schema.STRING_DTYPE) for c in indexed.columns}
    return Lookup(path=path, key=key, sha256=sha256_of(path), table=table)


# --- the mapping -----------------------------------------------------------------------
@dataclass(frozen=True)
class FileMapping:
    """A loaded mapping file: what :mod:`detector.sources` applies batch by batch.

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

    def require(self, raw_columns: Sequence[str], path) -> None:
        """InputError naming the first required column nothing in this file supplies."""
        cover = self.coverage(raw_columns)
        missing = [c for c in schema.REQUIRED_COLUMNS if cover[c] is None]
        if missing:
            col = self.columns.get(missing[0])
            wanted = ", ".join(col.fields(self.fields)) if col else "nothing (the mapping has no entry)"
            raise InputError(
                f"mapping {self.name!r} cannot supply required column {missing[0]!r}"
                + (f" (nor {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
                + f": it reads {wanted}; columns found: {', '.join(map(str, raw_columns)) or 'none'}",
                file=str(path),
                column=missing[0],
            )

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
        get = lambda f: text.get(f, nulls)  # noqa: E731
        reasons = np.full(n, None, dtype=object)
        out: dict[str, pd.Series] = {}
        for canonical, col in self.columns.items():
            values, why = self._column(col, get, n)
            out[canonical] = values
            if canonical in schema.REQUIRED_COLUMNS and why is not None:
                fill = (reasons == None) & why.notna().to_numpy()  # noqa: E711
                reasons[fill] = why.to_numpy(dtype=object)[fill]
        result = pd.DataFrame(out, index=index)
        return result, (reasons if (reasons != None).any() else None)  # noqa: E711

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
        sub = lambda f: get(f).iloc[idx].reset_index(drop=True)  # noqa: E731
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
            text = "lookup key " + _quoted(keys[missing]) + f" (from {' or '.join(spec.sources)})" + pd.Series(
                np.where(found.to_numpy(), f" has no {spec.lookup} in the lookup table {self.lookup.path.name}", f" not in the lookup table {self.lookup.path.name}"),
                index=keys[missing].index,
            )
            why[missing] = text
        return values, why

    def with_lookup(self, lookup: Lookup | None) -> "FileMapping":
        return FileMapping(**{**{f: getattr(self, f) for f in self.__dataclass_fields__}, "lookup": lookup})


# --- vectorised helpers ------------------------------------------------------------------
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


# --- loading -----------------------------------------------------------------------------
def load_mapping(
    name_or_path: str,
    *,
    lookup: str | Path | None = None,
    expect_sha256: str | None = None,
    expect_lookup_sha256: str | None = None,
) -> FileMapping:
    """Read and check a mapping (built-in name or file) and its lookup table.

    Parameters
    ----------
    name_or_path : str
        A built-in mapping's name (see :func:`builtin_mappings`) or a TOML file.
    lookup : path, optional
        The lookup table, overriding the mapping's ``[lookup] path``.
    expect_sha256, expect_lookup_sha256 : str, optional
        Digests a run recorded: a mapping or table that changed since is an InputError.

    Raises
    ------
    UsageError
        A bad mapping file (the message names the key); exit code 2.
    InputError
        A missing or changed file.
    """
    recorded, path = resolve_mapping(name_or_path)
    origin = str(path)
    data_bytes = path.read_bytes()
    digest = hashlib.sha256(data_bytes).hexdigest()
    if expect_sha256 and digest != expect_sha256:
        raise InputError(f"mapping {recorded!r} has changed since the run (SHA-256 differs from the recorded {expect_sha256[:16]}...)", file=origin)
    try:
        data = tomllib.loads(data_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"mapping file is not UTF-8 text ({origin})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"mapping file is not valid TOML: {exc} ({origin})") from None
    mapping = parse_mapping(data, origin=origin, default_name=path.stem, source=recorded, sha256=digest)
    table_path = Path(lookup) if lookup else (path.parent / mapping.lookup_path if mapping.lookup_path else None)
    if table_path is not None:
        if mapping.lookup_key is None:
            raise UsageError(f"a lookup table was given but the mapping has no [lookup] key ({origin})")
        table = load_lookup(table_path, mapping.lookup_key)
        if expect_lookup_sha256 and table.sha256 != expect_lookup_sha256:
            raise InputError(f"lookup table has changed since the run (SHA-256 differs from the recorded {expect_lookup_sha256[:16]}...)", file=str(table_path))
        # an optional column the table lacks stays empty; a required one cannot
        used = {r.spec.lookup for c in mapping.columns.values() if c.canonical in schema.REQUIRED_COLUMNS for r in (*c.rules, Rule((), c.spec)) if r.spec.lookup}
        absent = sorted(u for u in used if u not in table.table)
        if absent:
            raise InputError(f"lookup table has no column {absent[0]!r} (the mapping takes it); columns found: {table.key}, {', '.join(table.table)}", file=str(table_path), column=absent[0])
        mapping = mapping.with_lookup(table)
    return mapping


def parse_mapping(data: dict, *, origin: str = "mapping", default_name: str = "mapping", source: str = "", sha256: str = "") -> FileMapping:
    """A :class:`FileMapping` from the dict a mapping TOML file holds; UsageError naming a bad key."""
    if not isinstance(data, dict):
        raise UsageError(f"a mapping must be a TOML table ({origin})")
    _known(data, _TOP_KEYS, "", origin)
    name = _str(data.get("name", default_name), "name", origin)
    description = _str(data.get("description", ""), "description", origin)
    fmt = data.get("format")
    if fmt is not None and fmt not in ("csv", "jsonl", "parquet"):
        raise UsageError(f"format must be csv, jsonl or parquet, got {fmt!r} ({origin})")
    lookup_key = lookup_path = None
    if "lookup" in data:
        lk = data["lookup"]
        if not isinstance(lk, dict):
            raise UsageError(f"lookup must be a table with 'key' and optionally 'path' ({origin})")
        _known(lk, _LOOKUP_KEYS, "lookup.", origin)
        if "key" not in lk:
            raise UsageError(f"lookup.key is missing: name the lookup table's key column ({origin})")
        lookup_key = _str(lk["key"], "lookup.key", origin)
        lookup_path = _str(lk["path"], "lookup.path", origin) if "path" in lk else None
    columns_data = data.get("columns")
    if not isinstance(columns_data, dict) or not columns_data:
        raise UsageError(f"columns is missing: a mapping needs a [columns] table naming where each canonical column comes from ({origin})")
    columns: dict[str, ColumnSpec] = {}
    for canonical, entry in columns_data.items():
        key = f"columns.{canonical}"
        if canonical not in schema.EVENT_COLUMNS:
            raise UsageError(f"{key}: unknown canonical column {canonical!r}; canonical columns are {', '.join(schema.EVENT_COLUMNS)} ({origin})")
        columns[canonical] = _column_spec(canonical, entry, key, origin)
    uses_lookup = any(r.spec.lookup for c in columns.values() for r in (*c.rules, Rule((), c.spec)))
    if uses_lookup and lookup_key is None:
        raise UsageError(f"a column takes 'lookup' but the mapping has no [lookup] table with a key ({origin})")
    missing = [c for c in schema.REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UsageError(f"columns.{missing[0]} is missing: every mapping must say where the required columns ({', '.join(schema.REQUIRED_COLUMNS)}) come from ({origin})")
    ordered = {c: columns[c] for c in schema.EVENT_COLUMNS if c in columns}
    return FileMapping(name=name, source=source or name, sha256=sha256, columns=ordered, fmt=fmt, description=description, lookup_key=lookup_key, lookup_path=lookup_path)


def _column_spec(canonical: str, entry, key: str, origin: str) -> ColumnSpec:
    if isinstance(entry, (str, list)):
        entry = {"from": entry}
    if not isinstance(entry, dict):
        raise UsageError(f"{key} must be a raw field name, a list of them, or a table ({origin})")
    _known(entry, _COLUMN_KEYS, key + ".", origin)
    spec = _value_spec(canonical, entry, key, origin, allow_empty="rules" in entry)
    rules = []
    raw_rules = entry.get("rules", [])
    if not isinstance(raw_rules, list):
        raise UsageError(f"{key}.rules must be a list of tables ({origin})")
    for i, rule in enumerate(raw_rules):
        rkey = f"{key}.rules[{i}]"
        if not isinstance(rule, dict):
            raise UsageError(f"{rkey} must be a table with 'when' and a value ({origin})")
        _known(rule, _RULE_KEYS, rkey + ".", origin)
        when = rule.get("when", {})
        if not isinstance(when, dict):
            raise UsageError(f"{rkey}.when must be a table of raw field = regular expression ({origin})")
        conditions = tuple((str(f), _check_regex(p, f"{rkey}.when.{f}", origin)) for f, p in when.items())
        rules.append(Rule(conditions, _value_spec(canonical, rule, rkey, origin, allow_empty=False)))
    return ColumnSpec(canonical=canonical, spec=spec, rules=tuple(rules))


def _value_spec(canonical: str, entry: dict, key: str, origin: str, *, allow_empty: bool) -> ValueSpec:
    kinds = [k for k in ("from", "value", "hash") if k in entry]
    if len(kinds) > 1:
        raise UsageError(f"{key}: give one of 'from', 'value' or 'hash', not {' and '.join(map(repr, kinds))} ({origin})")
    if not kinds and "default" not in entry and not allow_empty:
        raise UsageError(f"{key}: say where the value comes from with 'from', 'value', 'hash' or 'default' ({origin})")
    sources: tuple[str, ...] = ()
    if "from" in entry:
        sources = _names(entry["from"], f"{key}.from", origin)
        if not sources:
            raise UsageError(f"{key}.from names no field ({origin})")
    value = _str(entry["value"], f"{key}.value", origin) if "value" in entry else None
    hashed = None
    if "hash" in entry:
        hashed = ("row",) if entry["hash"] == "row" else _names(entry["hash"], f"{key}.hash", origin)
        if not hashed:
            raise UsageError(f"{key}.hash names no field ({origin})")
    extract = _extract_pattern(entry["extract"], f"{key}.extract", origin) if "extract" in entry else None
    mapped = None
    if "map" in entry:
        if not isinstance(entry["map"], dict) or not all(isinstance(v, str) for v in entry["map"].values()):
            raise UsageError(f"{key}.map must be a table of raw value = canonical value (strings) ({origin})")
        mapped = {str(k): v for k, v in entry["map"].items()}
    lookup = _str(entry["lookup"], f"{key}.lookup", origin) if "lookup" in entry else None
    formats = None
    if "formats" in entry:
        if canonical != schema.TIMESTAMP:
            raise UsageError(f"{key}.formats: only the timestamp column takes formats ({origin})")
        formats = _names(entry["formats"], f"{key}.formats", origin)
        bad = [f for f in formats if f not in _TIMESTAMP_FORMATS and "%" not in f]
        if bad:
            raise UsageError(f"{key}.formats: unknown format {bad[0]!r}; use iso, epoch_s, epoch_ms or a strftime pattern like '%Y%m%d%H%M%S.%f' ({origin})")
    default = _str(entry["default"], f"{key}.default", origin) if "default" in entry else None
    return ValueSpec(sources=sources, value=value, hash=hashed, extract=extract, map=mapped, lookup=lookup, formats=formats, default=default)


def _known(table: AnyMapping, known: set[str], prefix: str, origin: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(f"unknown mapping key {prefix}{unknown[0]}; known here: {', '.join(sorted(known))} ({origin})")


def _str(value, key: str, origin: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{key} must be a string, got {value!r} ({origin})")
    return value


def _names(value, key: str, origin: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"{key} must be a string or a list of strings, got {value!r} ({origin})")
