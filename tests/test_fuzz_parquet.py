"""Arbitrary Parquet files: any column set (required columns present or missing, extra and
duplicated columns, any order), any column type (strings, large strings, dictionary-encoded
strings, binary, integers, floats, booleans, null columns, dates, timestamps in s/ms/us/ns
with and without a time zone), missing values, unicode and control characters, very long
values, epoch numbers, several row groups. The reader and the nightly run never crash:
either the file is refused naming it (nothing written), or every row is accounted for,
accepted rows keep their values, and typed timestamps keep their instants."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import schema, sources
from detector.errors import InputError, UsageError
from tests.conftest import no_day_refusal

DAY = dt.datetime(2026, 1, 5)
#: text a log would hold, beside arbitrary text
PLAUSIBLE = [
    "2026-01-05T09:00:00Z",
    "2026-01-05 10:00:00+02:00",
    "2026-01-05T09:00:00",
    "1767603600",
    "1767603600123",
    "2026-02-30T00:00:00Z",
    "",
    " ",
    "view",
    "VIEW ",
    "A1",
    "C1",
    "\x1b[31m",
    "=cmd|' /C calc'!A0",
    "<script>",
    "1985-06-01T00:00:00Z",
]
TIMEZONES = [None, "UTC", "Europe/Berlin", "+05:30", "America/New_York"]
UNITS = ["s", "ms", "us", "ns"]
REASON = re.compile(
    r"(empty (agent_id|customer_id|action)|unparseable timestamp|timestamp outside 1990-2099"
    rf"|[a-z_]+ longer than {schema.MAX_FIELD_LENGTH} characters|invalid UTF-8 in [a-z_]+|invalid character in [a-z_]+)"
)
#: columns whose accepted text must be the written text, trimmed (not lower-cased)
ID_COLUMNS = (schema.AGENT_ID, schema.CUSTOMER_ID, schema.TICKET_ID, schema.SESSION_ID, schema.EVENT_ID)

#: any character a Parquet string can hold (all of Unicode but lone surrogates): control
#: characters, bidi overrides, NUL, other scripts
char = st.characters(codec="utf-8")
long_text = st.builds(lambda c, k: c * k, char, st.integers(schema.MAX_FIELD_LENGTH - 4, schema.MAX_FIELD_LENGTH + 4))
text = st.one_of(st.text(char, max_size=20), st.sampled_from(PLAUSIBLE), long_text)
epoch_s = st.integers(int(DAY.replace(tzinfo=dt.UTC).timestamp()), int(DAY.replace(tzinfo=dt.UTC).timestamp()) + 86_399)
epoch = st.one_of(epoch_s, epoch_s.map(lambda s: s * 1000 + 123))
on_the_day = st.datetimes(min_value=DAY, max_value=DAY + dt.timedelta(hours=23, minutes=59))


def _timestamps(unit: str):
    # ns holds 1677-2262 only; other units any year Python holds
    wide = st.datetimes(min_value=dt.datetime(1678, 1, 1), max_value=dt.datetime(2261, 12, 31)) if unit == "ns" else st.datetimes()
    cut = {"s": lambda d: d.replace(microsecond=0), "ms": lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)}.get(unit, lambda d: d)
    return st.one_of(on_the_day, on_the_day, wide).map(cut)


#: kind -> (strategy of Python values, Arrow type or a function making the array)
KINDS = {
    "string": (text, pa.string()),
    "large_string": (text, pa.large_string()),
    "dictionary": (text, "dictionary"),
    "binary": (st.one_of(st.binary(max_size=12), text.map(lambda t: t.encode("utf-8"))), pa.binary()),
    "int64": (st.one_of(epoch, st.integers(-(2**63), 2**63 - 1), st.integers(0, 99)), pa.int64()),
    "int32": (st.integers(-(2**31), 2**31 - 1), pa.int32()),
    "uint64": (st.one_of(epoch, st.integers(0, 2**64 - 1)), pa.uint64()),
    "float64": (st.one_of(epoch.map(float), st.floats()), pa.float64()),
    "bool": (st.booleans(), pa.bool_()),
    "date32": (st.dates(), pa.date32()),
    "null": (st.none(), pa.null()),
    **{f"timestamp[{u}, {tz}]": (_timestamps(u), pa.timestamp(u, tz)) for u in UNITS for tz in TIMEZONES},
}


def _array(kind: str, values: list) -> pa.Array:
    arrow_type = KINDS[kind][1]
    if arrow_type == "dictionary":
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, arrow_type)


@st.composite
def column(draw, n: int, canonical: str | None):
    """(kind, values) of one column; the kinds a column of that name plausibly has come first."""
    likely = {
        schema.TIMESTAMP: [k for k in KINDS if k.startswith("timestamp")] + ["string", "int64", "float64"],
    }.get(canonical, ["string", "large_string", "dictionary", "int64"])
    kind = draw(st.one_of(st.sampled_from(likely), st.sampled_from(sorted(KINDS))))
    values, _ = KINDS[kind]
    nulls = draw(st.sampled_from([0.0, 0.0, 0.2, 1.0]))
    cells = st.one_of(st.none(), values) if nulls == 1.0 else (values if nulls == 0.0 else st.one_of(values, values, values, st.none()))
    return kind, draw(st.lists(cells, min_size=n, max_size=n))


@st.composite
def parquet_files(draw, max_rows: int = 30):
    """(table, how to write it, columns by name: kind and values)."""
    n = draw(st.integers(0, max_rows))
    # a required column is there 9 times in 10, an optional one 2 in 5
    names = [c for c in schema.EVENT_COLUMNS if draw(st.sampled_from([True] * 9 + [False] if c in schema.REQUIRED_COLUMNS else [True] * 2 + [False] * 3))]
    names += draw(st.lists(st.one_of(st.sampled_from(["extra", "Agent_ID", " timestamp", "", "ünïcode", "agent_id.1"]), st.text(char, max_size=8)), max_size=3))
    if names and draw(st.sampled_from([False] * 14 + [True])):
        names.append(draw(st.sampled_from(names)))  # the same name twice
    names = draw(st.permutations(names))
    columns = [(name, *draw(column(n, name if name in schema.EVENT_COLUMNS else None))) for name in names]
    table = pa.Table.from_arrays([_array(kind, values) for _, kind, values in columns], names=[name for name, _, _ in columns]) if columns else pa.table({})
    write = {
        "row_group_size": draw(st.integers(1, max(n, 1))),
        "use_dictionary": draw(st.booleans()),
        "compression": draw(st.sampled_from(["snappy", "none", "zstd"])),
    }
    return table, write, columns


def _expected_refusal(columns) -> str | None:
    names = [name for name, _, _ in columns]
    if any(c not in names for c in schema.REQUIRED_COLUMNS):
        return "missing required column"
    if any(names.count(c) > 1 for c in schema.EVENT_COLUMNS if c in names):
        return "appears more than once"
    return None


def _instant(kind: str, value) -> pd.Timestamp | None:
    """The UTC instant a typed timestamp value stands for, or None when not checked."""
    if kind.startswith("timestamp"):
        return pd.Timestamp(value).tz_localize("UTC")  # Arrow stores naive Python values as UTC
    if kind == "date32":
        return pd.Timestamp(value).tz_localize("UTC")
    if kind in ("int64", "int32", "uint64"):
        return pd.Timestamp(value if abs(value) >= schema.EPOCH_MS_THRESHOLD else value * 1000, unit="ms", tz="UTC")
    return None


def _written_text(kind: str, value) -> str | None:
    """The text an id column must read as (before trimming), or None when not checked."""
    if kind in ("string", "large_string", "dictionary"):
        return value
    if kind == "binary":
        return value.decode("utf-8")
    if kind in ("int64", "int32", "uint64"):
        return str(value)
    return None


def _trimmed(got: str, written: str) -> bool:
    """Whether ``got`` is ``written`` with at most whitespace cut from its ends."""
    for start in range(len(written) - len(got) + 1):
        if written[:start].strip():
            return False
        if written.startswith(got, start) and not written[start + len(got) :].strip():
            return True
    return False


def check_read(path, columns, batch_rows: int) -> None:
    n = len(columns[0][2]) if columns else 0
    refusal = _expected_refusal(columns)
    report = sources.IngestReport()
    batches = []
    try:
        for batch in sources.read_file(path, batch_rows=batch_rows, report=report):
            batches.append(batch)
    except InputError as exc:
        assert refusal is not None and refusal in str(exc), str(exc)
        assert str(path) in str(exc)
        assert not batches  # refused before anything of the file was given out
        assert not report.files
        return
    assert refusal is None, f"expected the file to be refused: {refusal}"
    (stats,) = report.files
    assert stats.rows_read == n == stats.rows_accepted + stats.rows_rejected
    assert stats.sha256 == sources.file_sha256(path)
    for batch in batches:
        assert batch.rows_read == len(batch.accepted) + len(batch.rejects) <= batch_rows
        assert list(batch.accepted.columns) == list(schema.EVENT_COLUMNS)
        assert str(batch.accepted[schema.TIMESTAMP].dtype) == schema.TIMESTAMP_DTYPE
    rejects = pd.concat([b.rejects for b in batches], ignore_index=True) if batches else schema.empty_rejects()
    accepted = pd.concat([b.accepted for b in batches], ignore_index=True) if batches else schema.empty_events()
    assert sum(b.rows_read for b in batches) == n
    lines = rejects["line"].tolist()
    assert len(set(lines)) == len(lines) and all(1 <= line <= n for line in lines)
    for reason in rejects["reason"]:
        assert REASON.fullmatch(reason), reason
    assert (rejects["source"] == str(path)).all()
    assert (rejects["raw"].str.len() <= schema.RAW_KEEP).all()
    assert not accepted[[schema.AGENT_ID, schema.CUSTOMER_ID, schema.ACTION]].isna().any().any()
    ts = accepted[schema.TIMESTAMP]
    assert ((ts >= schema.MIN_TIMESTAMP) & (ts < schema.MAX_TIMESTAMP)).all()
    # accepted rows are the rows not rejected, in order, with their values as written
    kept = [i for i in range(n) if i + 1 not in set(lines)]
    assert len(kept) == len(accepted)
    by_name = {name: (kind, values) for name, kind, values in columns}
    for canonical, (kind, values) in by_name.items():
        if canonical == schema.TIMESTAMP:
            for row, i in enumerate(kept):
                expected = _instant(kind, values[i])
                if expected is not None:
                    assert ts.iloc[row] == expected, (kind, values[i], ts.iloc[row])
        elif canonical in ID_COLUMNS:
            got = accepted[canonical]
            for row, i in enumerate(kept):
                written = None if values[i] is None else _written_text(kind, values[i])
                if written is not None and not pd.isna(got.iloc[row]):
                    assert _trimmed(got.iloc[row], written), (canonical, kind, values[i], got.iloc[row])


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=parquet_files(), batch_rows=st.integers(1, 40))
def test_arbitrary_parquet_files_are_read_or_refused_and_every_row_is_accounted_for(tmp_path_factory, case, batch_rows):
    table, write, columns = case
    path = tmp_path_factory.mktemp("pq") / "events.parquet"
    pq.write_table(table, path, **write)
    check_read(path, columns, batch_rows)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=parquet_files(max_rows=20))
def test_arbitrary_parquet_files_never_crash_the_nightly_run_and_every_row_is_accounted_for(tmp_path_factory, case):
    from detector.config import Config
    from detector.store import Store
    from pipelines.run import run_nightly

    table, write, columns = case
    work = tmp_path_factory.mktemp("hyppq")
    path = work / "events.parquet"
    pq.write_table(table, path, **write)
    store = Store(f"sqlite:///{work / 'iw.db'}")
    try:
        summary = run_nightly(Config(), store, [str(path)], "2026-01-05", roster=None, show_progress=False, first_night=True)
    except InputError as exc:
        # unusable as a whole: said so naming the file (the CLI's exit 2), nothing written
        assert _expected_refusal(columns) in str(exc) and str(path) in str(exc)
        assert store.runs().empty
        return
    except UsageError as exc:
        # no row of the day survived: refused, every row accounted for in the reason, nothing written
        assert no_day_refusal(str(exc)) == (len(table), len(table)) and store.runs().empty
        return
    finally:
        store.close()
    assert _expected_refusal(columns) is None
    ing = summary.ingest
    assert ing.rows_read == len(table) == ing.rows_accepted + ing.rows_rejected
    assert summary.nights[0].events + ing.rows_set_aside + ing.duplicates == ing.rows_accepted


# --- regressions found by the tests above -------------------------------------------------
BASE = {
    "timestamp": pa.array(["2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z"]),
    "customer_id": pa.array(["C1", "C2", "C3"]),
    "action": pa.array(["view", "view", "view"]),
}


@pytest.mark.parametrize(
    "agents",
    [
        pa.array([b"A1", b"\xff\xfe", None], pa.binary()),
        pa.array([b"A1", b"\xff\xfe", None], pa.large_binary()),
        pa.array([b"A1", b"\xff\xfe", b"A3"], pa.binary(2)),
        pa.array([b"A1", b"\xff\xfe", None], pa.binary()).dictionary_encode(),
    ],
    ids=["binary", "large_binary", "fixed_size_binary", "dictionary"],
)
def test_parquet_binary_ids_are_decoded_and_bad_utf8_is_a_reject_not_a_crash(tmp_path, agents):
    # was: UnicodeDecodeError out of the reader (an internal error), and b"A1" read as "b'A1'"
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({**BASE, "agent_id": agents}), path)
    loaded = sources.load_events(path)
    assert loaded.events["agent_id"].tolist()[0] == "A1"
    assert loaded.rejects.loc[loaded.rejects.line == 2, "reason"].tolist() == ["invalid UTF-8 in agent_id"]
    assert loaded.report.rows_read == 3 == len(loaded.events) + len(loaded.rejects)


def test_parquet_integer_ids_with_missing_values_keep_their_digits(tmp_path):
    # was: pandas made the column float, so customer 100 became "100.0" (another customer
    # than the "100" of a file without a missing value)
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({**BASE, "agent_id": pa.array([7, 8, 9], pa.int64()), "customer_id": pa.array([100, None, 2**62], pa.int64())}), path)
    loaded = sources.load_events(path)
    assert loaded.events["customer_id"].tolist() == ["100", str(2**62)]
    assert loaded.events["agent_id"].tolist() == ["7", "9"]
    assert loaded.rejects["reason"].tolist() == ["empty customer_id"]


def test_parquet_integer_epoch_timestamps_with_missing_values_are_still_epochs(tmp_path):
    path = tmp_path / "a.parquet"
    table = pa.table({**BASE, "agent_id": pa.array(["A1"] * 3), "timestamp": pa.array([1767603600, None, 1767603600123], pa.int64())})
    pq.write_table(table, path)
    loaded = sources.load_events(path)
    assert loaded.events["timestamp"].tolist() == [pd.Timestamp("2026-01-05T09:00:00Z"), pd.Timestamp("2026-01-05T09:00:00.123Z")]


def test_parquet_with_a_required_column_twice_is_refused_naming_file_and_column(tmp_path):
    # was: KeyError out of Arrow (an internal error)
    path = tmp_path / "a.parquet"
    columns = [BASE["timestamp"], pa.array(["A1"] * 3), BASE["customer_id"], BASE["action"], pa.array(["A2"] * 3)]
    pq.write_table(pa.Table.from_arrays(columns, names=["timestamp", "agent_id", "customer_id", "action", "agent_id"]), path)
    with pytest.raises(InputError, match="'agent_id' appears more than once") as caught:
        list(sources.read_file(path))
    assert str(path) in str(caught.value)
    # an extra column twice is ignored like any extra column
    pq.write_table(pa.Table.from_arrays([*columns[:4], columns[4], columns[4]], names=["timestamp", "agent_id", "customer_id", "action", "x", "x"]), path)
    assert len(sources.load_events(path).events) == 3


def test_parquet_typed_timestamps_keep_their_instant_in_every_unit_and_zone(tmp_path):
    instant = dt.datetime(2026, 1, 5, 23, 30)  # UTC; 00:30 the next day in Berlin
    for unit in UNITS:
        for tz in TIMEZONES:
            path = tmp_path / f"{unit}.parquet"
            table = pa.table({**BASE, "agent_id": pa.array(["A1"] * 3), "timestamp": pa.array([instant, None, instant], pa.timestamp(unit, tz))})
            pq.write_table(table, path, row_group_size=1)
            loaded = sources.load_events(path, batch_rows=2)
            assert loaded.events["timestamp"].tolist() == [pd.Timestamp(instant, tz="UTC")] * 2, (unit, tz)
            assert loaded.rejects[["line", "reason"]].values.tolist() == [[2, "unparseable timestamp"]]


def test_a_rejected_rows_timestamp_outside_pythons_dates_is_kept_as_text_not_a_crash(tmp_path):
    # was: NotImplementedError out of the rejects' raw text (pandas cannot print a
    # zone-aware timestamp of year 0): a planted value stopped the night
    path = tmp_path / "a.parquet"
    stamps = pa.array([dt.datetime(2026, 1, 5, 9), dt.datetime(1, 1, 1), dt.datetime(2026, 1, 5, 11)], pa.timestamp("s", tz="America/New_York"))
    table = pa.table({"timestamp": stamps, "agent_id": pa.array(["A1", "A2", None]), "customer_id": BASE["customer_id"], "action": BASE["action"]})
    pq.write_table(table, path)
    loaded = sources.load_events(path)
    assert loaded.report.rows_read == 3 == len(loaded.events) + len(loaded.rejects)
    assert all(isinstance(r, str) and r for r in loaded.rejects["raw"])
