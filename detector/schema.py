"""The canonical access-event and roster schemas, and the one place where rows are validated.

Everything downstream of :func:`validate` trusts its output: typed columns, UTC timestamps,
lower-cased actions, empty optional fields as missing values. This module never reads files
and knows no vendor field names (sources do the mapping).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import InputError

# --- canonical access event ------------------------------------------------------------
TIMESTAMP = "timestamp"
AGENT_ID = "agent_id"
CUSTOMER_ID = "customer_id"
ACTION = "action"
TICKET_ID = "ticket_id"
RESOURCE = "resource"
CUSTOMER_TIER = "customer_tier"
SESSION_ID = "session_id"
SOURCE_IP = "source_ip"
EVENT_ID = "event_id"

REQUIRED_COLUMNS: tuple[str, ...] = (TIMESTAMP, AGENT_ID, CUSTOMER_ID, ACTION)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    TICKET_ID,
    RESOURCE,
    CUSTOMER_TIER,
    SESSION_ID,
    SOURCE_IP,
    EVENT_ID,
)
EVENT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
STRING_COLUMNS: tuple[str, ...] = EVENT_COLUMNS[1:]
#: columns whose values are normalised to lower case
LOWERCASE_COLUMNS: tuple[str, ...] = (ACTION, RESOURCE, CUSTOMER_TIER)

#: actions the detector gives a meaning to; others are kept as they are
KNOWN_ACTIONS: tuple[str, ...] = ("view", "search", "update", "note", "export", "list")
#: resources the simulator writes and the aggregate stage counts separately
KNOWN_RESOURCES: tuple[str, ...] = (
    "profile",
    "id_document",
    "balance",
    "transactions",
    "address",
    "ticket",
)
HIGH_VALUE_TIER = "high_value"

# --- the limits every value is held to: ingest rejects what the store cannot keep ----------
#: longest field accepted, in characters; longer values are rejected with a reason rather
#: than cut silently. The store's id columns are this wide (detector/store/tables.py), on
#: every backend, so every value ingest accepts can be stored.
MAX_FIELD_LENGTH = 1024
#: characters no store backend keeps: NUL (PostgreSQL text refuses it) and lone UTF-16
#: surrogates (a JSON ``\ud800`` escape; not encodable as UTF-8, so neither Arrow nor a
#: database takes them). A value holding one is rejected: ``invalid character in COLUMN``.
#: Other control characters are kept as data (and shown escaped on a terminal).
INVALID_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
#: timestamps outside this range are rejected as implausible
MIN_TIMESTAMP = pd.Timestamp("1990-01-01", tz="UTC")
MAX_TIMESTAMP = pd.Timestamp("2100-01-01", tz="UTC")
#: epoch numbers at or above this are milliseconds, below it seconds (1e11 s is year 5138)
EPOCH_MS_THRESHOLD = 1e11
#: width of the raw row kept with a reject
RAW_KEEP = 500


def invalid_character_reason(column: str) -> str:
    """The reason a row is rejected for when ``column`` holds an :data:`INVALID_CHARACTERS` one."""
    return f"invalid character in {column}"


def has_invalid_character(value: object) -> bool:
    """True when ``value`` is text holding a character no store keeps (:data:`INVALID_CHARACTERS`)."""
    return isinstance(value, str) and INVALID_CHARACTERS.search(value) is not None


def value_problem(column: str, value: object) -> str | None:
    """Why a single text value cannot be kept (the limits :func:`validate` applies to every
    column), or None: an invalid character, or more than :data:`MAX_FIELD_LENGTH` characters.
    Used where values are checked one by one (the roster, JSON values before they become a frame)."""
    if not isinstance(value, str):
        return None
    if has_invalid_character(value):
        return invalid_character_reason(column)
    if len(value.strip()) > MAX_FIELD_LENGTH:
        return f"{column} longer than {MAX_FIELD_LENGTH} characters"
    return None


def escape_invalid(text: str) -> str:
    """``text`` with every :data:`INVALID_CHARACTERS` one written as its escape, so that any
    store keeps it: NUL as the four characters ``\\x00``, a lone surrogate as ``\\udxxx``
    (``\\ud800``). The one rule for raw text kept with a reject; other text is unchanged."""
    if INVALID_CHARACTERS.search(text) is None:
        return text
    return INVALID_CHARACTERS.sub(lambda m: "\\x00" if m.group() == "\x00" else f"\\u{ord(m.group()):04x}", text)


def raw_text(text: str) -> str:
    """A record's text as a reject keeps it: :func:`escape_invalid`, then cut to
    :data:`RAW_KEEP` characters (the last one an ellipsis when cut)."""
    text = escape_invalid(text)
    return text if len(text) <= RAW_KEEP else text[: RAW_KEEP - 1] + "\u2026"


STRING_DTYPE = "string"
TIMESTAMP_DTYPE = "datetime64[ns, UTC]"

# --- roster ----------------------------------------------------------------------------
VENDOR = "vendor"
TEAM = "team"
SITE = "site"
ROLE = "role"
START_DATE = "start_date"
END_DATE = "end_date"
TIMEZONE = "timezone"
ROSTER_COLUMNS: tuple[str, ...] = (AGENT_ID, VENDOR, TEAM, SITE, ROLE, START_DATE, END_DATE, TIMEZONE)
ROLES: tuple[str, ...] = ("agent", "team_lead", "qa_reviewer", "kyc_specialist", "escalations")
#: what stands for a team, role, site or vendor the roster does not give (or no roster)
UNKNOWN = "(none)"

# --- rejects ---------------------------------------------------------------------------
REJECT_COLUMNS: tuple[str, ...] = ("source", "line", "reason", "raw")


@dataclass(frozen=True)
class Validated:
    """Result of :func:`validate`: the accepted canonical rows and the rejected ones.

    ``len(accepted) + len(rejects)`` always equals the number of rows given.
    """

    accepted: pd.DataFrame
    rejects: pd.DataFrame


#: a column name is shown in an error up to this many characters, and up to this many names
_SHOWN_NAME = 60
_SHOWN_NAMES = 40


def missing_columns_error(missing: Sequence[str], raw_columns: Iterable[str], path: str | Path, *, mapping: str | None = None, reads: str = "") -> InputError:
    """The error for a file that lacks required columns: the one place its wording is built.

    Parameters
    ----------
    missing : sequence of str
        The required canonical columns nothing supplies, in :data:`~detector.schema.REQUIRED_COLUMNS` order.
    raw_columns : iterable of str
        The columns the file offers, listed in the message.
    path : str or Path
        The file.
    mapping, reads : str, optional
        For a mapping file: its name and what it reads for the first missing column.
    """
    names = [str(c) for c in raw_columns]
    shown = [n if len(n) <= _SHOWN_NAME else f"{n[:_SHOWN_NAME]}... ({len(n):,} characters)" for n in names[:_SHOWN_NAMES]]
    found = ", ".join(shown) + (f", and {len(names) - _SHOWN_NAMES:,} more" if len(names) > _SHOWN_NAMES else "") or "none"
    if mapping is None:
        what = f"missing required column {missing[0]!r}" + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
    else:
        what = f"mapping {mapping!r} cannot supply required column {missing[0]!r}" + (f" (nor {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "") + f": it reads {reads}"
    return InputError(f"{what}; columns found: {found}", file=str(path), column=missing[0])


def require_columns(columns, *, source: str, required=REQUIRED_COLUMNS) -> None:
    """Raise :func:`missing_columns_error` when a ``required`` column is not in ``columns``."""
    present = set(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise missing_columns_error(missing, columns, source)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse timestamps in any accepted form to UTC; unparseable values become NaT.

    Accepted: ISO-8601 with an offset or ``Z``; naive ISO-8601 (taken as UTC); epoch seconds
    or milliseconds (numbers, or strings of digits); already-typed datetimes. Instants that
    ``datetime64[ns]`` cannot hold (before 1677 or after 2262) also become NaT.

    Parameters
    ----------
    values : Series
        Strings, numbers or datetimes, in any mix within one form.

    Returns
    -------
    Series
        ``datetime64[ns, UTC]`` with the index of ``values``.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values
        if getattr(out.dt, "tz", None) is None:
            out = out.dt.tz_localize("UTC")
        return _to_ns(out.dt.tz_convert("UTC"))
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _parse_epoch(pd.to_numeric(values, errors="coerce"))
    text = values.astype(STRING_DTYPE).str.strip()
    fast = _parse_iso_arrow(text)
    if fast is not None:
        return fast
    numeric = text.str.fullmatch(r"-?\d+(\.\d+)?").fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP_DTYPE)
    if numeric.any():
        out[numeric] = _parse_epoch(pd.to_numeric(text[numeric], errors="coerce"))
    iso = ~numeric & text.notna() & (text != "")
    if iso.any():
        out[iso] = _parse_iso(text[iso])
    return out


def _parse_iso_arrow(text: pd.Series) -> pd.Series | None:
    """Fast path: Arrow's ISO-8601 parser, when it accepts every value of the column.

    Arrow accepts a strict subset of what :func:`_parse_iso` accepts (checked value by value
    in the tests) and gives the same instants, so using it changes speed, not results. It is
    all or nothing: a single value it cannot parse (an epoch number, an impossible date, a
    mix of naive and offset forms) sends the whole column down the general path.
    """
    arr = pa.array(text.array)
    empty = pc.equal(arr, "")
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, arr.type), arr)
    if arr.null_count == len(arr):
        return None
    try:
        parsed = pc.cast(arr, pa.timestamp("ns", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:
            # naive strings everywhere: Arrow keeps the wall time, which we take as UTC
            parsed = pc.cast(pc.cast(arr, pa.timestamp("ns")), pa.timestamp("ns", "UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    out = parsed.to_pandas()
    out.index = text.index
    return out.astype(TIMESTAMP_DTYPE)


def _parse_iso(text: pd.Series) -> pd.Series:
    # A space between date and time is common in exports (and in RFC 3339); ISO-8601 wants T.
    normalised = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", r"\1T", regex=True)
    parsed = pd.to_datetime(normalised, utc=True, format="ISO8601", errors="coerce")
    return _to_ns(parsed)


#: the instants a datetime64[ns] can hold, with a margin of a day each side
_NS_LOW = pd.Timestamp("1677-09-23", tz="UTC")
_NS_HIGH = pd.Timestamp("2262-04-10", tz="UTC")


def _to_ns(parsed: pd.Series) -> pd.Series:
    # pandas may parse to seconds or microseconds, which hold years that nanoseconds cannot
    if parsed.dtype == TIMESTAMP_DTYPE:
        return parsed
    parsed = parsed.where(parsed.isna() | ((parsed >= _NS_LOW) & (parsed < _NS_HIGH)))
    return parsed.astype(TIMESTAMP_DTYPE)


#: epoch milliseconds a datetime64[ns] can hold (its limit is about 9.22e12 ms)
_EPOCH_MS_LIMIT = 9.2e12


def _parse_epoch(numbers: pd.Series) -> pd.Series:
    numbers = numbers.astype("float64")
    ok = numbers.notna() & np.isfinite(numbers)
    ms = numbers.where(numbers.abs() >= EPOCH_MS_THRESHOLD, numbers * 1000.0)
    # out-of-range numbers would overflow datetime64[ns]; leave them NaT
    ok &= ms.abs() < _EPOCH_MS_LIMIT
    out = pd.Series(pd.NaT, index=numbers.index, dtype=TIMESTAMP_DTYPE)
    if ok.any():
        out[ok] = pd.to_datetime(ms[ok].round().astype("int64"), unit="ms", utc=True)
    return out


def validate(frame: pd.DataFrame, *, source: str = "<frame>", lines=None) -> Validated:
    """Check rows against the canonical schema; return typed accepted rows and rejects.

    Parameters
    ----------
    frame : DataFrame
        Rows already carrying canonical column names (sources map vendor names first). Extra
        columns are dropped; missing optional columns are added as missing values.
    source : str
        Name of the file or table the rows came from, recorded with each reject.
    lines : array-like of int, optional
        The line or record number of each row in ``source``; defaults to 1..n.

    Returns
    -------
    Validated
        ``accepted`` has exactly :data:`EVENT_COLUMNS`, ``timestamp`` as UTC datetimes and
        the rest as strings with missing values for empty optional fields; ``rejects`` has
        :data:`REJECT_COLUMNS` with one plain reason per row.

    Raises
    ------
    InputError
        When a required column is missing altogether (the file is unusable, nothing is kept).
    """
    require_columns(list(frame.columns), source=source)
    duplicated = sorted({c for c in frame.columns[frame.columns.duplicated()] if c in EVENT_COLUMNS})
    if duplicated:
        raise InputError(f"column {duplicated[0]!r} appears more than once", file=source, column=duplicated[0])
    n = len(frame)
    line_numbers = np.arange(1, n + 1) if lines is None else np.asarray(lines)
    if len(line_numbers) != n:
        raise ValueError(f"{len(line_numbers)} line numbers given for {n} rows")
    frame = frame.reset_index(drop=True)
    reasons = _Reasons(n)

    columns: dict[str, pd.Series] = {}
    for col in STRING_COLUMNS:
        values = frame[col] if col in frame.columns else None
        if values is not None and values.dtype == object:
            # Python strings may hold lone surrogates, which no string column (nor store) takes
            unencodable = values.map(has_invalid_character).to_numpy(dtype=bool)
            if unencodable.any():
                reasons.flag(unencodable, invalid_character_reason(col))
                values = values.mask(unencodable)
        text = _normalise_text(values, n, lower=col in LOWERCASE_COLUMNS)
        if n and text.null_count < len(text) and _may_hold_nul(text):
            reasons.flag(_as_bool(pc.match_substring(text, "\x00")), invalid_character_reason(col))
        if n and (pc.max(pc.binary_length(text)).as_py() or 0) > MAX_FIELD_LENGTH:
            # byte length bounds character length, so the exact count is only needed here
            reasons.flag(
                _as_bool(pc.greater(pc.utf8_length(text), MAX_FIELD_LENGTH)),
                f"{col} longer than {MAX_FIELD_LENGTH} characters",
            )
        columns[col] = pd.Series(pd.arrays.ArrowStringArray(text), index=frame.index)

    for col in (AGENT_ID, CUSTOMER_ID, ACTION):
        reasons.flag(columns[col].isna().to_numpy(), f"empty {col}")

    ts = parse_timestamps(frame[TIMESTAMP])
    bad_ts = ts.isna().to_numpy()
    reasons.flag(bad_ts, "unparseable timestamp")
    implausible = ~bad_ts & ((ts < MIN_TIMESTAMP) | (ts >= MAX_TIMESTAMP)).to_numpy()
    reasons.flag(implausible, f"timestamp outside {MIN_TIMESTAMP.year}-{MAX_TIMESTAMP.year - 1}")

    accepted = pd.DataFrame({TIMESTAMP: ts, **columns}, columns=list(EVENT_COLUMNS))
    rejected = reasons.rejected()
    if not rejected.any():
        return Validated(accepted=accepted, rejects=empty_rejects())
    accepted = accepted.loc[~rejected].reset_index(drop=True)
    rejects = pd.DataFrame(
        {
            "source": pd.Series([source] * int(rejected.sum()), dtype=STRING_DTYPE),
            "line": line_numbers[rejected].astype("int64"),
            "reason": pd.Series(reasons.text(rejected), dtype=STRING_DTYPE),
            "raw": pd.Series([raw_row(r) for r in frame.loc[rejected].to_dict("records")], dtype=STRING_DTYPE),
        },
        columns=list(REJECT_COLUMNS),
    )
    return Validated(accepted=accepted, rejects=rejects)


class _Reasons:
    """The first reason found for each row; cheaper than masking a column of strings."""

    def __init__(self, n: int) -> None:
        self._code = np.zeros(n, dtype=np.int16)  # 0 = no reason yet, k = self._text[k]
        self._text = [""]

    def flag(self, mask: np.ndarray, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self._text.append(reason)
            self._code[(self._code == 0) & mask] = len(self._text) - 1

    def rejected(self) -> np.ndarray:
        return self._code != 0

    def text(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._text, dtype=object)[self._code[rows]]


def _normalise_text(values: pd.Series | None, n: int, *, lower: bool):
    """Strings stripped, empty as missing, optionally lower-cased, as an Arrow array."""
    if values is None:
        return pa.nulls(n, pa.large_string())
    if not pd.api.types.is_string_dtype(values.dtype):
        missing = values.isna().to_numpy()
        values = values.astype(str).astype(STRING_DTYPE).mask(missing)
    text = pc.utf8_trim_whitespace(pa.array(values.astype(STRING_DTYPE).array))
    # the shortest length answers "any empty string?" faster than comparing every value
    if pc.min(pc.binary_length(text)).as_py() == 0:
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return pc.utf8_lower(text) if lower else text


def _may_hold_nul(text: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value of ``text`` holds a NUL: a scan of the strings' data buffers at
    memory speed, answered exactly (by value) only when a buffer holds a zero byte."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    for chunk in chunks:
        buffers = chunk.buffers()
        data = buffers[2] if len(buffers) > 2 else None
        if data is not None and data.size and not np.frombuffer(data, dtype=np.uint8).all():
            return bool(pc.any(pc.match_substring(text, "\x00")).as_py())
    return False


def _as_bool(mask) -> np.ndarray:
    """An Arrow boolean array as numpy, missing as False."""
    return np.asarray(pc.fill_null(mask, False), dtype=bool)


def raw_row(record: dict) -> str:
    """A rejected row as truncated JSON text, for the rejects table (never interpreted);
    characters no store keeps are escaped (:func:`raw_text`)."""
    return raw_text(json.dumps({str(k): (None if _isna(v) else _as_text(v)) for k, v in record.items()}, ensure_ascii=False))


def _as_text(value) -> str:
    """``str(value)``, also for a value pandas cannot print: a time-zone-aware timestamp
    outside Python's dates (year 0 in a Parquet file) as its UTC instant, else its type."""
    try:
        return str(value)
    except (ValueError, OverflowError, NotImplementedError):
        try:
            return f"{value.asm8} UTC"
        except Exception:  # noqa: BLE001  (a planted value must not stop the night)
            return f"(a {type(value).__name__} that cannot be printed)"


def _isna(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def empty_events() -> pd.DataFrame:
    """An empty frame with the canonical event columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype=STRING_DTYPE) for c in EVENT_COLUMNS})
    frame[TIMESTAMP] = pd.Series(dtype=TIMESTAMP_DTYPE)
    return frame


def empty_rejects() -> pd.DataFrame:
    """An empty rejects frame."""
    return pd.DataFrame(
        {
            "source": pd.Series(dtype=STRING_DTYPE),
            "line": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype=STRING_DTYPE),
            "raw": pd.Series(dtype=STRING_DTYPE),
        }
    )
