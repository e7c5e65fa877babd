"""Tests for detector.schema: validate's typing and rejects, timestamp parsing, properties."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import schema
from detector.errors import InputError


def frame(**columns) -> pd.DataFrame:
    base = {
        "timestamp": ["2026-03-01T08:00:00Z"],
        "agent_id": ["A1"],
        "customer_id": ["C1"],
        "action": ["view"],
    }
    base.update(columns)
    n = max(len(v) for v in base.values())
    return pd.DataFrame({k: (v * n if len(v) == 1 else v) for k, v in base.items()})


def test_validate_types_strips_lowercases_and_empties_to_missing():
    result = schema.validate(
        frame(
            agent_id=[" Agent7 "],
            action=[" EXPORT "],
            resource=["ID_Document"],
            customer_tier=["High_Value"],
            ticket_id=["  "],
            session_id=[""],
            extra=["dropped"],
        )
    )
    events = result.accepted
    assert list(events.columns) == list(schema.EVENT_COLUMNS)
    assert str(events["timestamp"].dtype) == schema.TIMESTAMP_DTYPE
    assert all(events[c].dtype == schema.STRING_DTYPE for c in schema.STRING_COLUMNS)
    row = events.iloc[0]
    assert row["agent_id"] == "Agent7"  # identifiers keep their case
    assert (row["action"], row["resource"], row["customer_tier"]) == ("export", "id_document", "high_value")
    assert pd.isna(row["ticket_id"]) and pd.isna(row["session_id"])
    assert pd.isna(row["source_ip"]) and pd.isna(row["event_id"])  # absent optional columns
    assert result.rejects.empty
    pd.testing.assert_frame_equal(result.rejects, schema.empty_rejects())


def test_validate_output_dtypes_match_the_empty_frames():
    result = schema.validate(frame(agent_id=["A1", ""]))
    assert result.accepted.dtypes.to_dict() == schema.empty_events().dtypes.to_dict()
    assert result.rejects.dtypes.to_dict() == schema.empty_rejects().dtypes.to_dict()
    empty = schema.validate(frame().iloc[:0])
    pd.testing.assert_frame_equal(empty.accepted, schema.empty_events())
    pd.testing.assert_frame_equal(empty.rejects, schema.empty_rejects())


def test_validate_non_string_columns_become_text():
    result = schema.validate(
        pd.DataFrame(
            {
                "timestamp": [1772352000, 1772352000500],
                "agent_id": [7, 8],
                "customer_id": pd.array([1, None], dtype="Int64"),
                "action": ["view", "view"],
                "ticket_id": [1.5, np.nan],
            }
        )
    )
    assert result.accepted["agent_id"].tolist() == ["7"]
    assert result.accepted["ticket_id"].tolist() == ["1.5"]
    assert result.accepted["timestamp"].tolist() == [pd.Timestamp("2026-03-01T08:00:00Z")]
    assert result.rejects["reason"].tolist() == ["empty customer_id"]


def test_validate_reasons_first_problem_wins_with_given_lines_and_raw():
    result = schema.validate(
        frame(
            timestamp=["2026-03-01T08:00:00Z", "bad", "bad", "1985-01-01T00:00:00Z", "2026-03-01T08:00:00Z"],
            agent_id=["A1", "A2", "", "A4", "A5"],
            resource=["profile", "profile", "profile", "profile", "r" * (schema.MAX_FIELD_LENGTH + 1)],
        ),
        source="day.csv",
        lines=[10, 11, 12, 13, 14],
    )
    assert result.accepted["agent_id"].tolist() == ["A1"]
    assert result.rejects["line"].tolist() == [11, 12, 13, 14]
    assert result.rejects["reason"].tolist() == [
        "unparseable timestamp",
        "empty agent_id",
        "timestamp outside 1990-2099",
        f"resource longer than {schema.MAX_FIELD_LENGTH} characters",
    ]
    assert (result.rejects["source"] == "day.csv").all()
    raw = json.loads(result.rejects.loc[0, "raw"])
    assert raw["timestamp"] == "bad" and raw["agent_id"] == "A2"
    assert len(result.rejects.loc[3, "raw"]) == schema.RAW_KEEP  # cut, with an ellipsis


def test_validate_default_lines_count_from_one():
    result = schema.validate(frame(agent_id=["A1", "", "A3", ""]))
    assert result.rejects["line"].tolist() == [2, 4]


def test_validate_missing_required_column_is_an_input_error():
    with pytest.raises(InputError) as info:
        schema.validate(frame().drop(columns=["action", "customer_id"]), source="x.csv")
    assert info.value.context == {"file": "x.csv", "column": "customer_id"}
    assert "(and 'action')" in str(info.value)


def test_validate_duplicated_canonical_column_is_an_input_error():
    bad = pd.concat([frame(), frame()[["agent_id"]]], axis=1)
    with pytest.raises(InputError, match="'agent_id' appears more than once"):
        schema.validate(bad, source="x.csv")


def test_validate_line_count_must_match_rows():
    with pytest.raises(ValueError):
        schema.validate(frame(), lines=[1, 2])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T08:00:00Z", "2026-03-01T08:00:00"),
        ("2026-03-01T08:00:00.123456789Z", "2026-03-01T08:00:00.123456789"),
        ("2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00"),
        ("2026-03-01T10:00:00+0200", "2026-03-01T08:00:00"),
        ("2026-03-01T08:00:00", "2026-03-01T08:00:00"),
        ("2026-03-01 08:00:00", "2026-03-01T08:00:00"),
        ("2026-03-01", "2026-03-01T00:00:00"),
        (" 2026-03-01T08:00:00Z ", "2026-03-01T08:00:00"),
        ("1772352000", "2026-03-01T08:00:00"),
        ("1772352000.5", "2026-03-01T08:00:00.500"),
        ("1772352000123", "2026-03-01T08:00:00.123"),
        ("2026-02-30T08:00:00Z", None),
        ("2026-03-01T25:00:00Z", None),
        ("2300-01-01T00:00:00Z", None),  # beyond datetime64[ns]: NaT, not a crash
        ("10000000000000", None),  # epoch ms in 2286
        ("99999999999999999999999", None),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_timestamps_forms_alone_and_mixed(value, expected):
    want = pd.NaT if expected is None else pd.Timestamp(expected, tz="UTC")
    alone = schema.parse_timestamps(pd.Series([value, value]))
    mixed = schema.parse_timestamps(pd.Series(["garbage", value], index=[5, 9]))
    assert str(alone.dtype) == str(mixed.dtype) == schema.TIMESTAMP_DTYPE
    assert list(mixed.index) == [5, 9]
    for got in (alone.iloc[1], mixed.iloc[1]):
        assert (pd.isna(got) and pd.isna(want)) or got == want


def test_parse_timestamps_typed_inputs():
    naive = pd.Series(pd.to_datetime(["2026-03-01 08:00:00"]))
    aware = pd.Series(pd.to_datetime(["2026-03-01 10:00:00+02:00"]))
    far = pd.Series(pd.to_datetime(["3000-01-01"]).astype("datetime64[us]"))
    numbers = pd.Series([1772352000, 1772352000123, np.nan, 1e13])
    assert schema.parse_timestamps(naive).iloc[0] == pd.Timestamp("2026-03-01T08:00:00Z")
    assert schema.parse_timestamps(aware).iloc[0] == pd.Timestamp("2026-03-01T08:00:00Z")
    assert pd.isna(schema.parse_timestamps(far).iloc[0])
    parsed = schema.parse_timestamps(numbers)
    assert parsed.iloc[1] == pd.Timestamp("2026-03-01T08:00:00.123Z")
    assert parsed.iloc[2:].isna().all()


ISO_PARTS = st.builds(
    lambda y, mo, d, h, mi, s, frac, sep, zone: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
    st.integers(1980, 2120),
    st.integers(1, 13),
    st.integers(1, 31),
    st.integers(0, 24),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from(["", ".5", ".123", ".123456", ".123456789"]),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "Z", "+02:00", "-05:30", "+0100", "+00:00"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ISO_PARTS, min_size=1, max_size=6))
def test_arrow_fast_path_gives_the_general_paths_instants(values):
    """Uniform columns go through Arrow; the same values one by one through pandas."""
    series = pd.Series(values)
    fast = schema.parse_timestamps(series)
    one_by_one = [schema._parse_iso(pd.Series([v])).iloc[0] for v in values]
    for got, want in zip(fast, one_by_one):
        assert (pd.isna(got) and pd.isna(want)) or got == want


FIELD_TEXT = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", "  ", "VIEW", "view", "1772352000", "2026-03-01T08:00:00Z", "x" * 1100]),
)
ROW = st.fixed_dictionaries({c: FIELD_TEXT for c in schema.EVENT_COLUMNS})


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, max_size=15), st.booleans())
def test_validate_never_crashes_and_accounts_for_every_row(rows, as_object):
    data = pd.DataFrame(rows, columns=list(schema.EVENT_COLUMNS))
    if not as_object:
        data = data.astype(schema.STRING_DTYPE)
    result = schema.validate(data, source="prop")
    assert len(result.accepted) + len(result.rejects) == len(data)
    assert result.rejects["line"].is_unique
    assert result.rejects["reason"].notna().all()
    events = result.accepted
    assert events[list(schema.REQUIRED_COLUMNS)].notna().all().all()
    assert events["timestamp"].between(schema.MIN_TIMESTAMP, schema.MAX_TIMESTAMP, inclusive="left").all()
    for col in schema.STRING_COLUMNS:
        values = events[col].dropna()
        assert (values == values.str.strip()).all() and (values != "").all()
        assert (values.str.len() <= schema.MAX_FIELD_LENGTH).all()
    for col in schema.LOWERCASE_COLUMNS:
        values = events[col].dropna()
        assert (values == values.str.lower()).all()


def test_require_columns_lists_what_was_found():
    with pytest.raises(InputError, match="columns found: a, b") as info:
        schema.require_columns(["a", "b"], source="f.csv", required=("agent_id",))
    assert info.value.context == {"file": "f.csv", "column": "agent_id"}
