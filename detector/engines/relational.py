"""Reading, validation, de-duplication and counting by a query engine, where the logs are:
Spark over a data lake's files, a SQL warehouse over its table (DuckDB can run it too).

The events never come to this process: every rule below is an Ibis expression the engine
runs, and only small results come back (counts per reason, a sample of the rejected rows,
events per day, then per day the agent-days of :mod:`detector.engines.expression`, the
touched pairs and the flagged agents' evidence).

The rules are those of :func:`detector.schema.validate` and
:class:`detector.aggregate.Deduplicator`, written once more as relational expressions (the
equality tests hold the two to the same rows):

- text columns: Unicode whitespace stripped at both ends (:data:`WHITESPACE`, the characters
  Arrow's ``utf8_trim_whitespace`` strips), empty as missing, ``action``, ``resource`` and
  ``customer_tier`` lower-cased;
- the first reason found, in this order: a NUL in a column (``invalid character in C``;
  lone surrogates cannot be held by any engine's text), a value longer than
  :data:`~detector.schema.MAX_FIELD_LENGTH` characters, an empty ``agent_id``,
  ``customer_id`` or ``action``, an unparseable timestamp, a timestamp outside 1990-2099;
- timestamps: a typed timestamp (naive as UTC), epoch seconds or milliseconds (a number, or
  digits as text; :data:`~detector.schema.EPOCH_MS_THRESHOLD`), or ISO-8601 text
  (:data:`ISO_8601`: a date, a ``T`` or a space, hours and minutes, optional seconds and
  up to nine fraction digits, ``Z`` or an offset ``+hh``, ``+hhmm``, ``+hh:mm``; naive as
  UTC), held as whole microseconds since the Unix epoch (finer digits are cut);
- de-duplication: rows equal in every canonical column count once (with an event id: the
  same id and content); an event id carried by rows of different content keeps them all
  and is counted as conflicting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detector import schema as s
from detector.aggregate import Touched
from detector.engines.expression import day_counts
from detector.errors import InputError, UsageError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from detector.mapping import FileMapping

#: the characters stripped from both ends of a text value (Arrow's utf8_trim_whitespace), as a
#: regular expression's character class: ASCII controls as escapes every engine's regex
#: reads (an SQL literal holding the raw characters is not read alike: Spark's takes "\v"
#: for "v"), the others as themselves
WHITESPACE = r"\t\n\x0B\x0C\r\x1C\x1D\x1E\x1F " + "\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TRIM = f"^[{WHITESPACE}]+|[{WHITESPACE}]+$"
_EDGE = f"^[{WHITESPACE}]|[{WHITESPACE}]$"
#: the ISO-8601 forms a query engine parses (groups: year, month, day, hour, minute,
#: second, fraction, zone); RE2, Java and PostgreSQL read it alike
ISO_8601 = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
_EPOCH_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
_US_PER_DAY = 86_400_000_000
#: instants the reference's nanosecond timestamps can hold (schema._NS_LOW/_NS_HIGH): outside
#: them a timestamp is unparseable there, so here too
_US_LOW = int(pd.Timestamp("1677-09-23", tz="UTC").value // 1000)
_US_HIGH = int(pd.Timestamp("2262-04-10", tz="UTC").value // 1000)
_US_MIN = int(s.MIN_TIMESTAMP.value // 1000)
_US_MAX = int(s.MAX_TIMESTAMP.value // 1000)
#: rejected rows fetched with their values (all are counted)
REJECTS_SAMPLE = 1_000
#: the columns of the checked table besides the canonical text columns
US, REASON, FILE, LINE = "us", "reason", "src_file", "src_line"
#: optional source columns: why the engine's reader could not split a record, and its text
PROBLEM, RAW_TEXT = "src_problem", "src_raw"
#: the canonical columns the source supplies (comma-separated): what a reject's raw row shows
PRESENT = "src_present"
#: a source column ``X`` of timestamps may come with ``X__us``, its microseconds since the
#: epoch as the engine computes them (Spark: Ibis cannot extract microseconds there)
MICROS_SUFFIX = "__us"
GIVEN_US = "src_us"
_EXTRAS = (FILE, LINE, PROBLEM, RAW_TEXT)


# --- the canonical columns from the source's -------------------------------------------------
def canonical(raw: ir.Table, mapping: FileMapping | dict[str, str] | None, *, engine: str, source: str) -> ir.Table:
    """The source's rows with the canonical columns (raw values, before validation), by the
    mapping: a rename dict, a mapping file's renames, candidate lists, constants, defaults,
    value maps and regex extraction. Any other mapping feature is refused before anything
    runs, naming it and the engine. Keeps ``src_file`` and ``src_line`` when the source has them."""
    import ibis

    columns = list(raw.columns)
    out: dict[str, Any] = {}
    if mapping is None or isinstance(mapping, dict):
        renamed = {v: k for k, v in (mapping or {}).items()}  # canonical -> raw
        for c in s.EVENT_COLUMNS:
            name = renamed.get(c, c)
            if name in columns:
                out[c] = raw[name]
    else:
        for c in s.EVENT_COLUMNS:
            col = mapping.columns.get(c)
            if col is None:
                continue
            if col.rules:
                raise UsageError(f"mapping {mapping.name!r}: conditional rules ([columns.{c}] rules) are not run by the {engine} engine; use the python or duckdb engine")
            spec = col.spec
            for feature, used in (("a lookup table", spec.lookup), ("a hashed event id", spec.hash), ("timestamp formats", spec.formats and tuple(spec.formats) != ("iso",))):
                if used:
                    raise UsageError(f"mapping {mapping.name!r}: {feature} ([columns.{c}]) is not run by the {engine} engine; use the python or duckdb engine")
            nested = [f for f in spec.sources if f not in columns and ("." in f or "[" in f)]
            if nested:
                raise UsageError(f"mapping {mapping.name!r}: the JSON path {nested[0]!r} ([columns.{c}]) is not run by the {engine} engine; use the python or duckdb engine")
            value = _value(raw, spec, columns)
            if value is not None:
                out[c] = value
    missing = [c for c in s.REQUIRED_COLUMNS if c not in out]
    if missing:
        raise s.missing_columns_error(missing, columns, source)
    exprs = {c: (v if c == s.TIMESTAMP else _text(v)) for c, v in out.items()}
    exprs[PRESENT] = ibis.literal(",".join(c for c in s.EVENT_COLUMNS if c in exprs))
    for c in s.EVENT_COLUMNS:
        if c not in exprs:
            exprs[c] = ibis.null("string")
    for extra in _EXTRAS:
        if extra in columns:
            exprs[extra] = raw[extra]
    ts = out[s.TIMESTAMP]
    given = f"{ts.get_name()}{MICROS_SUFFIX}" if ts.type().is_timestamp() else None
    if given in columns:
        exprs[GIVEN_US] = raw[given]
    return raw.select(**exprs)


def _text(value: Any) -> Any:
    return value if value.type().is_string() else value.cast("string")


def _value(raw: ir.Table, spec: Any, columns: list[str]) -> Any:
    """One mapping value spec as an expression (None: nothing in this source supplies it)."""
    import ibis

    if spec.value is not None:
        value: Any = ibis.literal(spec.value, "string")
    else:
        present = [f for f in spec.sources if f in columns]
        value = None
        for f in present:
            # the first candidate present and not empty in the row wins
            v = _text(raw[f])
            v = _trimmed(v).nullif("")
            value = v if value is None else value.fill_null(v)
        if value is not None and spec.extract:
            pattern, group = _extract_group(spec.extract)
            value = ibis.ifelse(value.re_search(pattern), value.re_extract(pattern, group).nullif(""), ibis.null("string"))
        if value is not None and spec.map:
            value = value.cases(*spec.map.items(), else_=value)
        if spec.default is not None:
            value = ibis.literal(spec.default, "string") if value is None else value.fill_null(spec.default)
    return value


def _extract_group(pattern: str) -> tuple[str, int]:
    """The pattern without group names (not every engine reads them) and the index of the
    group that holds the value: the one named ``value``, else the first."""
    import re

    compiled = re.compile(pattern)
    group = compiled.groupindex.get("value", 1)
    return re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(", pattern), group


# --- validation ---------------------------------------------------------------------------------
def checked(rows: ir.Table, *, nul: bool = True, fence: bool = False) -> ir.Table:
    """The canonical rows normalised, with ``us`` (the timestamp in microseconds since the
    epoch, UTC) and ``reason`` (why the row is rejected; missing when it is accepted).

    ``nul``: whether the engine's text can hold a NUL (PostgreSQL's cannot, nor can its
    SQL name one: the check is left out there). Built in stages, each a projection of the one before, so that every engine's SQL names
    an intermediate value once instead of repeating its expression."""
    import ibis

    keep = [c for c in (FILE, LINE, RAW_TEXT, PROBLEM, GIVEN_US, PRESENT) if c in rows.columns]
    raw = {f"raw_{c}": _text(rows[c]) for c in s.EVENT_COLUMNS}
    text: dict[str, Any] = {}
    for c in s.STRING_COLUMNS:
        v = _trimmed(rows[c]).nullif("")
        text[c] = v.lower() if c in s.LOWERCASE_COLUMNS else v
    staged = rows.select(*keep, **raw, **text, _ts=rows[s.TIMESTAMP])
    staged = _fenced(_microseconds(staged, fence), fence)
    reasons: list[tuple[Any, Any]] = []
    if PROBLEM in staged.columns:  # the reader's own reason comes first
        reasons.append((staged[PROBLEM].notnull(), staged[PROBLEM]))
    for c in s.STRING_COLUMNS:
        if nul:
            reasons.append((staged[c].contains("\x00"), s.invalid_character_reason(c)))
        reasons.append((staged[c].length() > s.MAX_FIELD_LENGTH, f"{c} longer than {s.MAX_FIELD_LENGTH} characters"))
    for c in (s.AGENT_ID, s.CUSTOMER_ID, s.ACTION):
        reasons.append((staged[c].isnull(), f"empty {c}"))
    us = staged[US]
    reasons.append((us.isnull(), "unparseable timestamp"))
    reasons.append(((us < _US_MIN) | (us >= _US_MAX), f"timestamp outside {s.MIN_TIMESTAMP.year}-{s.MAX_TIMESTAMP.year - 1}"))
    reason = ibis.cases(*((cond.fill_null(False), why) for cond, why in reasons), else_=ibis.null("string"))
    out = [c for c in (FILE, LINE) if c in staged.columns]
    staged = staged.mutate(**{REASON: reason})
    # the raw values are kept for the rejected rows only (what the rejects show)
    rejected = staged[REASON].notnull()
    kept = {c: ibis.ifelse(rejected, staged[c], ibis.null("string")) for c in (*raw, *(c for c in (RAW_TEXT, PRESENT) if c in staged.columns))}
    return staged.select(*s.STRING_COLUMNS, US, *out, REASON, **kept)


def _trimmed(value: Any) -> Any:
    """``value`` without :data:`WHITESPACE` at either end; the replacement runs only where an
    end is whitespace (a test of both ends is far cheaper than the replacement)."""
    import ibis

    return ibis.ifelse(value.re_search(_EDGE).fill_null(False), value.re_replace(_TRIM, ""), value)


#: a LIMIT no table reaches: PostgreSQL does not inline a subquery that has one
_NO_LIMIT = 2**62


def _fenced(t: ir.Table, fence: bool) -> ir.Table:
    """``t``, as a subquery the engine keeps whole when ``fence`` (PostgreSQL: its planner
    otherwise inlines every stage into the next, each column's expression copied wherever
    it is used, and plans the checks for minutes; Spark and DuckDB need no fence)."""
    return t.limit(_NO_LIMIT) if fence else t


def _microseconds(t: ir.Table, fence: bool = False) -> ir.Table:
    """``t`` with ``us``: microseconds since the Unix epoch (UTC) of its ``_ts`` column of
    any accepted type; missing where it is not a timestamp (or one a nanosecond clock cannot
    hold)."""
    import ibis

    ts = t["_ts"]
    kind = ts.type()
    if GIVEN_US in t.columns:
        t = t.mutate(_us=t[GIVEN_US].cast("int64")).drop(GIVEN_US)
    elif kind.is_timestamp():
        t = t.mutate(_us=ts.epoch_seconds().floor().cast("int64") * 1_000_000 + ts.microsecond().cast("int64"))
    elif kind.is_date():
        t = t.mutate(_us=ts.epoch_seconds().floor().cast("int64") * 1_000_000)
    elif kind.is_numeric():
        t = _epoch(t.mutate(_x=ts.cast("float64")))
    elif kind.is_string():
        t = t.mutate(_text=_trimmed(ts))
        t = t.mutate(_numeric=t._text.re_search(_EPOCH_TEXT), _x=ibis.ifelse(t._text.re_search(_EPOCH_TEXT), t._text, ibis.null("string")).cast("float64"))
        t = _iso(_epoch(t), fence)
        t = t.mutate(_us=ibis.ifelse(t._numeric, t._epoch_us, t._iso_us))
    else:
        raise InputError(f"the timestamp column has type {kind}: neither a timestamp, a number nor text")
    if "_epoch_us" in t.columns and not kind.is_string():
        t = t.mutate(_us=t._epoch_us)
    t = t.mutate(**{US: ibis.ifelse((t._us >= _US_LOW) & (t._us < _US_HIGH), t._us, ibis.null("int64"))})
    return t.drop(*[c for c in t.columns if c.startswith("_")])


def _epoch(t: ir.Table) -> ir.Table:
    """``t`` with ``_epoch_us`` from ``_x``, epoch seconds or milliseconds (by size), in
    microseconds: milliseconds rounded half to even, as the reference rounds them."""
    import ibis

    t = t.mutate(_ms=ibis.ifelse(t._x.abs() >= s.EPOCH_MS_THRESHOLD, t._x, t._x * 1000.0))
    t = t.mutate(_ok=t._ms.abs() < 9.2e12, _low=t._ms.floor())
    t = t.mutate(_frac=t._ms - t._low, _whole=ibis.ifelse(t._ok, t._low, 0.0).cast("int64"))
    rounded = ibis.ifelse(t._frac > 0.5, t._whole + 1, ibis.ifelse(t._frac < 0.5, t._whole, t._whole + t._whole % 2))
    return t.mutate(_epoch_us=ibis.ifelse(t._ok, rounded * 1000, ibis.null("int64")))


def _iso(t: ir.Table, fence: bool = False) -> ir.Table:
    """``t`` with ``_iso_us`` from ``_text``: ISO-8601 text (:data:`ISO_8601`) in
    microseconds, by integer arithmetic every engine does alike (days from the civil date:
    H. Hinnant's algorithm); missing when it is not one, or names no real instant (month
    13, February 30, hour 24, offset +24:00)."""
    import ibis

    # once the expression matches (a test without groups: cheap), every part is taken by
    # position: the date's and the hours' are fixed, seconds follow a colon at 16, a
    # fraction a point at 19, and the zone starts at its letter or sign (the first "-" past
    # the date). Each part is a function of the text alone, so that no engine's planner
    # sees an expression nested in another (PostgreSQL inlines them all)
    x = t._text
    t = t.mutate(_match=x.re_search(ISO_8601).fill_null(False), _zone_at=ibis.greatest(x.find("Z"), x.find("+"), x.find("-", 10)))
    timed = t._match & x.substr(10, 1).isin(["T", " "])
    seconds = timed & (x.substr(16, 1) == ":")
    fraction = seconds & (x.substr(19, 1) == ".")
    t = t.mutate(
        _p1=ibis.ifelse(t._match, x.substr(0, 4), ibis.null("string")),
        _p2=ibis.ifelse(t._match, x.substr(5, 2), ibis.null("string")),
        _p3=ibis.ifelse(t._match, x.substr(8, 2), ibis.null("string")),
        _p4=ibis.ifelse(timed, x.substr(11, 2), ibis.null("string")),
        _p5=ibis.ifelse(timed, x.substr(14, 2), ibis.null("string")),
        _p6=ibis.ifelse(seconds, x.substr(17, 2), ibis.null("string")),
        _p7=ibis.ifelse(fraction, ibis.ifelse(t._zone_at >= 0, x.substr(20, t._zone_at - 20), x.substr(20)), ibis.null("string")),
        _p8=ibis.ifelse(t._match, ibis.ifelse(t._zone_at >= 0, x.substr(t._zone_at), ibis.literal("Z")), ibis.null("string")),
    )
    t = _fenced(t, fence)
    t = t.mutate(
        _y=t._p1.cast("int64"),
        _m=t._p2.cast("int64"),
        _d=t._p3.cast("int64"),
        _hh=t._p4.cast("int64").fill_null(0),
        _mi=t._p5.cast("int64").fill_null(0),
        _ss=t._p6.cast("int64").fill_null(0),
        _fr=t._p7.rpad(9, "0").substr(0, 6).cast("int64").fill_null(0),
        _sign=ibis.ifelse(t._p8.substr(0, 1) == "-", -1, 1),
        _oh=ibis.ifelse(t._p8 == "Z", 0, t._p8.substr(1, 2).cast("int64")),
        _om=ibis.ifelse(t._p8.length() > 3, t._p8.right(2).cast("int64"), 0),
    )
    leap = ((t._y % 4 == 0) & (t._y % 100 != 0)) | (t._y % 400 == 0)
    month_days = ibis.cases((t._m == 2, ibis.ifelse(leap, 29, 28)), (t._m.isin([4, 6, 9, 11]), 30), else_=31)
    valid = t._match & (t._y >= 1) & (t._m >= 1) & (t._m <= 12) & (t._d >= 1) & (t._d <= month_days) & (t._hh < 24) & (t._mi < 60) & (t._ss < 60) & (t._oh < 24) & (t._om < 60)
    t = t.mutate(_valid=valid.fill_null(False), _yy=t._y - ibis.ifelse(t._m <= 2, 1, 0))
    t = t.mutate(_era=t._yy // 400)
    t = t.mutate(_yoe=t._yy - t._era * 400, _doy=(153 * (t._m + ibis.ifelse(t._m > 2, -3, 9)) + 2) // 5 + t._d - 1)
    t = t.mutate(_days=t._era * 146097 + t._yoe * 365 + t._yoe // 4 - t._yoe // 100 + t._doy - 719468)
    seconds = ((t._days * 24 + t._hh) * 60 + t._mi) * 60 + t._ss - t._sign * (t._oh * 60 + t._om) * 60
    return t.mutate(_iso_us=ibis.ifelse(t._valid, seconds * 1_000_000 + t._fr, ibis.null("int64")))


# --- the run's reading ---------------------------------------------------------------------
@dataclass
class Accounting:
    """What the engine read: rows per reason (None: accepted) and per file, a sample of the
    rejected rows, and the accepted events per UTC day with their first and last instant."""

    reasons: Counter = field(default_factory=Counter)
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> read/accepted/rejected
    rejects: pd.DataFrame = field(default_factory=s.empty_rejects)
    days: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # day -> (events, first us, last us)

    @property
    def rows_read(self) -> int:
        return sum(self.reasons.values())

    @property
    def rows_rejected(self) -> int:
        return sum(n for r, n in self.reasons.items() if r is not None)


def account(table: ir.Table, *, source: str, keep: int = REJECTS_SAMPLE) -> Accounting:
    """Count a :func:`checked` table: four small queries, whatever its size; ``keep``
    rejected rows are fetched with their values (in file and line order)."""
    out = Accounting()
    by = [REASON, FILE] if FILE in table.columns else [REASON]
    counts = table.group_by(by).aggregate(n=table.count()).to_pandas()
    for row in counts.itertuples(index=False):
        reason = None if pd.isna(row.reason) else str(row.reason)
        out.reasons[reason] += int(row.n)
        name = str(getattr(row, FILE, source))
        stats = out.files.setdefault(name, {"read": 0, "accepted": 0, "rejected": 0})
        stats["read"] += int(row.n)
        stats["accepted" if reason is None else "rejected"] += int(row.n)
    bad = table.filter(table[REASON].notnull())
    order = [bad[FILE], bad[LINE]] if LINE in table.columns else None
    sample = (bad.order_by(order) if order else bad).limit(keep).to_pandas()
    if len(sample):
        raws = [s.raw_text(str(r[RAW_TEXT])) if RAW_TEXT in sample and pd.notna(r[RAW_TEXT]) else s.raw_row({c: r[f"raw_{c}"] for c in _present(r)}) for _, r in sample.iterrows()]
        out.rejects = pd.DataFrame(
            {
                "source": pd.Series(sample[FILE].astype(str) if FILE in sample else [source] * len(sample), dtype=s.STRING_DTYPE),
                "line": (sample[LINE].astype("int64") if LINE in sample else pd.Series(np.zeros(len(sample), np.int64))).to_numpy(),
                "reason": pd.Series(sample[REASON].astype(str), dtype=s.STRING_DTYPE),
                "raw": pd.Series(raws, dtype=s.STRING_DTYPE),
            },
            columns=list(s.REJECT_COLUMNS),
        )
    good = table.filter(table[REASON].isnull())
    per_day = good.group_by(day_number=good[US] // _US_PER_DAY).aggregate(n=good.count(), first=good[US].min(), last=good[US].max()).to_pandas()
    for row in per_day.itertuples(index=False):
        day = str(np.datetime64(int(row.day_number), "D"))
        out.days[day] = (int(row.n), int(row.first), int(row.last))
    return out


def _present(row: pd.Series) -> list[str]:
    """The canonical columns a rejected row's source supplied (all when not known)."""
    named = row.get(PRESENT)
    return [c for c in str(named).split(",") if c] if named is not None and pd.notna(named) else list(s.EVENT_COLUMNS)


@dataclass
class DayCount:
    """One day counted by the engine: what :class:`pipelines.run.NightScorer` stores."""

    agent_days: pd.DataFrame
    touched: Touched | None
    events: int
    duplicates: int
    conflicting_ids: int
    conflicting_rows: int
    conflict_agents: Counter


def day_rows(table: ir.Table, day: str) -> ir.Table:
    """The accepted, distinct events of ``day`` in a :func:`checked` table (canonical text
    columns and ``us``)."""
    start = int(pd.Timestamp(day, tz="UTC").value // 1000)
    good = table.filter(table[REASON].isnull() & (table[US] >= start) & (table[US] < start + _US_PER_DAY))
    return good.select(*s.STRING_COLUMNS, US)


def count_day(table: ir.Table, day: str, timezones: dict[str, str] | None = None, *, engine: Any = None) -> DayCount:
    """De-duplicate and count ``day`` of a :func:`checked` table in its engine.

    ``engine``: what holds the day's distinct rows and runs the counts (a :class:`DayEngine`;
    by default Ibis's own, which compiles every expression again each day).
    """
    from detector.engines import assemble

    engine = engine or DayEngine()
    distinct, n_rows, offset = engine.hold_day(table, day)
    try:
        n_distinct = int(engine.run(distinct.count()).column(0)[0].as_py())
        with_id = distinct.filter(distinct[s.EVENT_ID].notnull())
        ids = with_id.group_by(s.EVENT_ID).aggregate(k=with_id.count())
        ids = ids.filter(ids.k > 1)
        conflicts = engine.run(ids.aggregate(n=ids.count(), rows=ids.k.sum())).to_pandas()
        conflicting_ids = int(conflicts.n.iloc[0]) if len(conflicts) else 0
        conflicting_rows = int(conflicts.rows.fillna(0).iloc[0]) if len(conflicts) else 0
        agents: Counter = Counter()
        if conflicting_ids:
            carrying = with_id.join(ids.select(s.EVENT_ID), s.EVENT_ID)
            for row in engine.run(carrying.group_by(s.AGENT_ID).aggregate(n=carrying.count())).to_pandas().itertuples(index=False):
                agents[str(row.agent_id)] = int(row.n)
        start = int(pd.Timestamp(day, tz="UTC").value // 1000) - offset
        counts = day_counts(distinct, start)
        fetched = {name: engine.batches(expr) if name == "touched" else engine.run(expr) for name, expr in counts.items()}
        agent_days, touched = assemble(day, fetched, timezones or {})
    finally:
        engine.release_day(distinct)
        # Arrow's allocator keeps what the fetched results freed (some hundreds of MB on a
        # day of a million agents): given back before the day is scored
        pa.default_memory_pool().release_unused()
    return DayCount(agent_days, touched, n_distinct, n_rows - n_distinct, conflicting_ids, conflicting_rows, agents)


class DayEngine:
    """How :func:`count_day` holds a day's distinct rows and runs its counts: through Ibis
    (any backend; the rows held by ``.cache()``: a temporary table, Spark's cache).
    :class:`detector.engines.query.FileSource` has its own, whose statements are compiled once
    for every day."""

    def hold_day(self, table: ir.Table, day: str) -> tuple[ir.Table, int, int]:
        """The day's distinct accepted rows, held while counted; the day's rows before
        de-duplication; and what was taken off ``us`` (0: microseconds since the epoch)."""
        rows = day_rows(table, day)
        n_rows = int(self.run(rows.count()).column(0)[0].as_py())
        return rows.distinct().cache(), n_rows, 0

    def release_day(self, distinct: ir.Table) -> None:
        distinct.release()

    def run(self, expr: ir.Expr) -> pa.Table:
        """``expr``'s result as an Arrow table (a scalar: one row, one column)."""
        return expr.as_table().to_pyarrow()

    def batches(self, expr: ir.Table) -> pa.RecordBatchReader:
        """``expr``'s rows as a stream of Arrow batches."""
        from detector.engines import stream

        return stream(expr)


def evidence(table: ir.Table, day: str, agents: set[str]) -> pd.DataFrame:
    """The accepted, distinct events of ``agents`` on ``day``, as canonical events in time
    order (ties by the other columns: the same rows in the same order on every engine)."""
    import ibis

    if not agents:
        return s.empty_events()
    rows = day_rows(table, day)
    rows = rows.filter(rows[s.AGENT_ID].isin(sorted(agents))).distinct()
    frame = rows.order_by([ibis._[US], *(ibis._[c] for c in s.STRING_COLUMNS)]).to_pandas()
    out = pd.DataFrame({s.TIMESTAMP: pd.to_datetime(frame[US].astype("int64"), unit="us", utc=True).astype(s.TIMESTAMP_DTYPE)})
    for c in s.STRING_COLUMNS:
        out[c] = frame[c].astype(s.STRING_DTYPE)
    return out[list(s.EVENT_COLUMNS)]
