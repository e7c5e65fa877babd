"""Reading and checking a mapping file: TOML in, a :class:`FileMapping` out, or a
UsageError naming the bad key. Reads the mapping and its lookup table only when asked, and
checks every regular expression (RE2) before any log is read.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping as AnyMapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from detector import schema
from detector.errors import InputError, UsageError
from detector.mapping.file_mapping import FileMapping
from detector.mapping.registry import resolve_mapping
from detector.mapping.specs import ColumnSpec, Rule, ValueSpec, load_lookup
from detector.sources.registry import FORMATS

_TIMESTAMP_FORMATS = ("iso", "epoch_s", "epoch_ms")
_VALUE_KEYS = {"from", "value", "hash", "extract", "map", "lookup", "formats", "default"}
_COLUMN_KEYS = _VALUE_KEYS | {"rules"}
_RULE_KEYS = _VALUE_KEYS | {"when"}
_TOP_KEYS = {"name", "description", "format", "lookup", "columns"}
_LOOKUP_KEYS = {"path", "key"}


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
    if fmt is not None and fmt not in FORMATS:
        *others, last = FORMATS
        raise UsageError(f"format must be {', '.join(others)} or {last}, got {fmt!r} ({origin})")
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
