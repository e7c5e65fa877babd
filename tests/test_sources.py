"""Tests for detector.sources: formats, inputs, rejects and their lines, accounting, roster."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detector import schema, sources
from detector.errors import InputError

HEADER = list(schema.EVENT_COLUMNS)

#: canonical rows, as a vendor would write them (mixed case, spaces, empty optionals)
ROWS = [
    {
        "timestamp": "2026-03-01T08:00:00Z",
        "agent_id": "A1",
        "customer_id": "C100",
        "action": "view",
        "ticket_id": "T1",
        "resource": "profile",
        "customer_tier": "standard",
        "session_id": "S1",
        "source_ip": "10.0.0.1",
        "event_id": "E1",
    },
    {
        "timestamp": "2026-03-01T10:30:00+02:00",
        "agent_id": "A1",
        "customer_id": "C101",
        "action": "EXPORT",
        "ticket_id": "",
        "resource": "ID_Document",
        "customer_tier": "high_value",
        "session_id": "S1",
        "source_ip": "10.0.0.1",
        "event_id": "E2",
    },
    {
        "timestamp": "2026-03-01T09:15:30.250Z",
        "agent_id": " A2 ",
        "customer_id": "C102",
        "action": "search",
        "ticket_id": "T2",
        "resource": "",
        "customer_tier": "",
        "session_id": "",
        "source_ip": "",
        "event_id": "E3",
    },
]


def expected_events(rows=ROWS) -> pd.DataFrame:
    return schema.validate(pd.DataFrame(rows, columns=HEADER)).accepted


# --- writers, one per registered format ---------------------------------------------------
def csv_bytes(rows, header=HEADER, newline="\n") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator=newline, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def jsonl_bytes(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def write_parquet(path: Path, rows, **kwargs) -> Path:
    table = pa.Table.from_pylist(rows) if rows else pa.table({c: pa.array([], pa.string()) for c in HEADER})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kwargs)
    return path


def write_rows(path: Path, rows) -> Path:
    fmt = sources.detect_format(path)
    if fmt == "csv":
        return write(path, csv_bytes(rows))
    if fmt == "jsonl":
        return write(path, jsonl_bytes(rows))
    return write_parquet(path, rows)


WRITERS = {"csv": "events.csv", "jsonl": "events.jsonl", "parquet": "events.parquet"}


def test_every_registered_format_has_a_writer_and_extensions():
    assert set(WRITERS) == set(sources.FORMATS)
    assert set(sources.EXTENSIONS.values()) == set(sources.FORMATS)


@pytest.mark.parametrize("name", [f"events{e}" for e in sources.EXTENSIONS])
def test_each_format_round_trips_the_same_canonical_rows(tmp_path, name):
    path = write_rows(tmp_path / name, ROWS)
    loaded = sources.load_events(path)
    pd.testing.assert_frame_equal(loaded.events, expected_events())
    assert loaded.rejects.empty
    assert loaded.events["action"].tolist() == ["view", "export", "search"]
    assert loaded.events["agent_id"].tolist() == ["A1", "A1", "A2"]
    assert loaded.events["timestamp"].tolist() == [
        pd.Timestamp("2026-03-01T08:00:00Z"),
        pd.Timestamp("2026-03-01T08:30:00Z"),
        pd.Timestamp("2026-03-01T09:15:30.250Z"),
    ]
    assert pd.isna(loaded.events.loc[1, "ticket_id"])


def test_format_override_reads_any_file_name(tmp_path):
    path = write(tmp_path / "export.log", csv_bytes(ROWS))
    with pytest.raises(InputError, match="cannot tell the format"):
        list(sources.read_events(path))
    assert len(sources.load_events(path, fmt="csv").events) == 3
    gz = write(tmp_path / "export.log.gz", jsonl_bytes(ROWS))
    assert len(sources.load_events(gz, fmt="jsonl").events) == 3


def test_unknown_format_name_is_an_input_error(tmp_path):
    path = write(tmp_path / "a.csv", csv_bytes(ROWS))
    with pytest.raises(InputError, match="unknown format 'xml'"):
        list(sources.read_file(path, fmt="xml"))


# --- inputs -----------------------------------------------------------------------------
def test_directory_input_is_recursive_sorted_and_skips_hidden_and_unknown(tmp_path):
    write_rows(tmp_path / "b" / "day2.parquet", ROWS[2:])
    write_rows(tmp_path / "a" / "day1.csv.gz", ROWS[:1])
    write_rows(tmp_path / "a" / "day1b.jsonl", ROWS[1:2])
    write(tmp_path / "notes.txt", b"not a log")
    write(tmp_path / ".cache" / "old.csv", csv_bytes(ROWS))
    assert sources.resolve_inputs(tmp_path) == [
        tmp_path / "a" / "day1.csv.gz",
        tmp_path / "a" / "day1b.jsonl",
        tmp_path / "b" / "day2.parquet",
    ]
    loaded = sources.load_events(str(tmp_path))
    pd.testing.assert_frame_equal(loaded.events, expected_events())
    assert [f.path.name for f in loaded.report.files] == ["day1.csv.gz", "day1b.jsonl", "day2.parquet"]


def test_glob_input_and_lists_of_specs(tmp_path):
    for i in range(3):
        write_rows(tmp_path / f"day{i}.csv", ROWS[i : i + 1])
    write(tmp_path / "day9.txt", b"ignored")
    assert sources.resolve_inputs(str(tmp_path / "day*")) == [tmp_path / f"day{i}.csv" for i in range(3)]
    assert sources.resolve_inputs(str(tmp_path / "**" / "*.csv")) == [tmp_path / f"day{i}.csv" for i in range(3)]
    both = sources.resolve_inputs([tmp_path / "day2.csv", str(tmp_path / "day[01].csv"), tmp_path / "day2.csv"])
    assert both == [tmp_path / "day2.csv", tmp_path / "day0.csv", tmp_path / "day1.csv"]


@pytest.mark.parametrize("spec", ["missing.csv", "nothing-*.csv", "emptydir"])
def test_spec_matching_nothing_names_the_spec(tmp_path, spec):
    (tmp_path / "emptydir").mkdir()
    target = str(tmp_path / spec)
    with pytest.raises(InputError) as info:
        sources.resolve_inputs(target)
    assert info.value.context["file"] == target
    with pytest.raises(InputError):
        sources.resolve_inputs([])


# --- accounting -------------------------------------------------------------------------
def test_accounting_identity_per_batch_per_file_and_in_total(tmp_path):
    good = ROWS * 4
    bad = dict(ROWS[0], timestamp="not a time")
    write(tmp_path / "a.csv", csv_bytes(good + [bad]) + b"1,2\n")
    write(tmp_path / "b.jsonl", jsonl_bytes(good) + b"{oops\n")
    write_parquet(tmp_path / "c.parquet", good + [dict(bad, agent_id="")])
    report = sources.IngestReport()
    batches = list(sources.read_events(tmp_path, batch_rows=5, report=report))
    assert all(b.rows_read == len(b.accepted) + len(b.rejects) for b in batches)
    assert all(len(b.accepted) + len(b.rejects) <= 6 for b in batches)  # csv: 5 + one bad record
    by_file = {f.path.name: f for f in report.files}
    assert {n: (f.rows_read, f.rows_accepted, f.rows_rejected) for n, f in by_file.items()} == {
        "a.csv": (14, 12, 2),
        "b.jsonl": (13, 12, 1),
        "c.parquet": (13, 12, 1),
    }
    assert report.rows_read == report.rows_accepted + report.rows_rejected == 40
    assert sum(b.rows_read for b in batches) == 40


def test_file_stats_digest_and_size_are_those_of_the_stored_bytes(tmp_path):
    paths = [
        write_rows(tmp_path / "a.csv.gz", ROWS),
        write_rows(tmp_path / "b.jsonl", ROWS),
        write_rows(tmp_path / "c.parquet", ROWS),
        write(tmp_path / "d.csv", b""),
    ]
    report = sources.load_events(paths).report
    for path, stats in zip(paths, report.files):
        data = path.read_bytes()
        assert stats.sha256 == hashlib.sha256(data).hexdigest()
        assert stats.size_bytes == len(data)
    assert [f.format for f in report.files] == ["csv", "jsonl", "parquet", "csv"]


def test_stopping_early_records_no_stats_and_releases_the_reader(tmp_path):
    path = write_rows(tmp_path / "a.csv.gz", ROWS * 50)
    report = sources.IngestReport()
    batches = sources.read_events(path, batch_rows=10, report=report)
    first = next(batches)
    batches.close()
    assert len(first.accepted) == 10
    assert report.files == []


def test_batches_are_bounded_by_batch_rows(tmp_path):
    path = write_rows(tmp_path / "a.csv", ROWS * 100)
    sizes = [b.rows_read for b in sources.read_events(path, batch_rows=64)]
    assert sizes == [64, 64, 64, 64, 44]


# --- rejects and their line numbers -------------------------------------------------------
def test_csv_reject_lines_are_record_numbers_with_header_as_line_1(tmp_path):
    rows = [dict(ROWS[0], event_id=f"E{i}") for i in range(10)]
    rows[3]["timestamp"] = "2026-02-30T00:00:00Z"  # line 5
    rows[7]["customer_id"] = " "  # line 9
    path = write(tmp_path / "a.csv", csv_bytes(rows))
    rejects = sources.load_events(path).rejects
    assert rejects[["line", "reason"]].values.tolist() == [
        [5, "unparseable timestamp"],
        [9, "empty customer_id"],
    ]
    assert (rejects["source"] == str(path)).all()
    assert json.loads(rejects.loc[0, "raw"])["timestamp"] == "2026-02-30T00:00:00Z"


def test_csv_wrong_field_counts_are_rejects_with_their_lines_across_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.csv, "CSV_BLOCK_BYTES", 512)  # many Arrow blocks as well
    lines = [",".join(HEADER)]
    bad_lines = set()
    for i in range(2, 120):
        if i % 7 == 0:
            lines.append(f"2026-03-01T08:00:00Z,A1,C{i}")  # three fields
            bad_lines.add(i)
        elif i % 11 == 0:
            lines.append(f"2026-03-01T08:00:00Z,A1,C{i},view,,,,,,E{i},surplus")
            bad_lines.add(i)
        else:
            lines.append(f"2026-03-01T08:00:00Z,A1,C{i},view,,,,,,E{i}")
    path = write(tmp_path / "a.csv.gz", ("\n".join(lines) + "\n").encode())
    report = sources.IngestReport()
    batches = list(sources.read_events(path, batch_rows=10, report=report))
    events = pd.concat([b.accepted for b in batches], ignore_index=True)
    rejects = pd.concat([b.rejects for b in batches], ignore_index=True)
    assert rejects["line"].tolist() == sorted(bad_lines)
    assert set(rejects["reason"]) == {"expected 10 fields, found 3", "expected 10 fields, found 11"}
    assert rejects.loc[rejects.line == 7, "raw"].item() == "2026-03-01T08:00:00Z,A1,C7"
    # every accepted row kept its own record number: C<i> was written on line i
    assert events["customer_id"].tolist() == [f"C{i}" for i in range(2, 120) if i not in bad_lines]
    assert report.files[0].rows_read == 118


def test_csv_line_numbers_of_validation_rejects_after_a_skipped_record(tmp_path):
    text = ",".join(HEADER) + "\n" + "1,2\n" + "2026-03-01T08:00:00Z,A1,C1,view,,,,,,E1\n" + "2026-03-01T08:00:00Z,,C1,view,,,,,,E2\n"
    rejects = sources.load_events(write(tmp_path / "a.csv", text.encode())).rejects
    assert rejects[["line", "reason"]].values.tolist() == [[2, "expected 10 fields, found 2"], [4, "empty agent_id"]]


def test_csv_quoted_line_breaks_stay_in_the_field_and_count_as_one_record(tmp_path):
    text = 'timestamp,agent_id,customer_id,action,ticket_id\n2026-03-01T08:00:00Z,A1,C1,note,"T1\nsecond line"\n2026-03-01T08:00:00Z,,C2,view,T2\n'
    loaded = sources.load_events(write(tmp_path / "a.csv", text.encode()))
    assert loaded.events["ticket_id"].tolist() == ["T1\nsecond line"]
    # physical line 4, record 3: rejects carry record numbers (documented)
    assert loaded.rejects["line"].tolist() == [3]


def test_csv_unterminated_quote_rejects_its_own_record_only(tmp_path):
    text = ",".join(HEADER[:4]) + '\n2026-03-01T08:00:00Z,A1,C1,view\n2026-03-01T08:00:00Z,"A2,C2,view\n2026-03-01T08:00:00Z,A3,C3,view\n'
    loaded = sources.load_events(write(tmp_path / "a.csv", text.encode()))
    assert loaded.events["agent_id"].tolist() == ["A1", "A3"]
    assert loaded.rejects["line"].tolist() == [3]
    assert loaded.rejects["reason"].item() == "unclosed quote: the field runs to the end of the file"


def test_csv_bytes_that_are_not_utf8_reject_the_row(tmp_path):
    data = csv_bytes(ROWS[:1]) + b"2026-03-01T08:00:00Z,A\xff9,C1,view,,,,,,E9\n"
    loaded = sources.load_events(write(tmp_path / "a.csv", data))
    assert len(loaded.events) == 1
    assert loaded.rejects[["line", "reason"]].values.tolist() == [[3, "invalid UTF-8 in agent_id"]]
    assert "A\ufffd9" in loaded.rejects["raw"].item()


def test_csv_header_that_is_not_utf8_is_an_input_error(tmp_path):
    path = write(tmp_path / "a.csv", b"timestamp,agent\xff_id,customer_id,action\n1,2,3,4\n")
    with pytest.raises(InputError, match="header is not UTF-8"):
        list(sources.read_events(path))


def test_csv_bom_and_crlf(tmp_path):
    data = b"\xef\xbb\xbf" + csv_bytes(ROWS, newline="\r\n")
    loaded = sources.load_events(write(tmp_path / "a.csv.gz", data))
    pd.testing.assert_frame_equal(loaded.events, expected_events())
    assert not loaded.events["event_id"].str.contains("\r").any()


def test_jsonl_bom_and_crlf(tmp_path):
    data = b"\xef\xbb\xbf" + jsonl_bytes(ROWS).replace(b"\n", b"\r\n")
    loaded = sources.load_events(write(tmp_path / "a.jsonl", data))
    pd.testing.assert_frame_equal(loaded.events, expected_events())


def test_jsonl_broken_lines_are_rejects_with_physical_line_numbers(tmp_path):
    good = [json.dumps(r) for r in ROWS]
    lines = [
        good[0],  # 1
        "",  # 2 blank: not a row
        "{not json",  # 3
        "[1, 2]",  # 4
        good[1],  # 5
        "   ",  # 6 blank
        good[2],  # 7
    ]
    data = ("\n".join(lines)).encode() + b"\n" + b'{"agent_id": "\xff"}' + b"\n" + b'{"timestamp": "x", "agent_id": "A9", "customer_id": "C9", "action": "view"}'
    loaded = sources.load_events(write(tmp_path / "a.jsonl", data))
    pd.testing.assert_frame_equal(loaded.events, expected_events())
    assert loaded.rejects[["line", "reason"]].values.tolist() == [
        [3, "invalid JSON"],
        [4, "not a JSON object"],
        [8, "invalid UTF-8"],
        [9, "unparseable timestamp"],
    ]
    assert loaded.rejects.loc[0, "raw"] == "{not json"
    assert loaded.report.files[0].rows_read == 7


@pytest.mark.parametrize("read_bytes", [2, 64, 1 << 20])
def test_jsonl_line_numbers_across_groups_and_reads(tmp_path, monkeypatch, read_bytes):
    monkeypatch.setattr(sources.jsonl, "JSONL_READ_BYTES", read_bytes)
    lines, bad, blank = [], set(), set()
    for i in range(1, 60):
        if i % 9 == 0:
            lines.append("")
            blank.add(i)
        elif i % 13 == 0:
            lines.append('{"timestamp": ')
            bad.add(i)
        else:
            lines.append(json.dumps(dict(ROWS[0], customer_id=f"C{i}")))
    data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode()  # BOM, CRLF, no final line break
    report = sources.IngestReport()
    batches = list(sources.read_events(write(tmp_path / "a.jsonl.gz", data), batch_rows=7, report=report))
    events = pd.concat([b.accepted for b in batches], ignore_index=True)
    rejects = pd.concat([b.rejects for b in batches], ignore_index=True)
    assert events["customer_id"].tolist() == [f"C{i}" for i in range(1, 60) if i not in bad | blank]
    assert rejects["line"].tolist() == sorted(bad)
    assert set(rejects["reason"]) == {"invalid JSON"}
    assert report.files[0].rows_read == 59 - len(blank)


def test_jsonl_slow_and_fast_paths_agree(tmp_path):
    rows = [dict(r, timestamp=t) for r, t in zip(ROWS, [1772352000, 1772352000500, 1772352000.25])]
    clean = sources.load_events(write(tmp_path / "clean.jsonl", jsonl_bytes(rows)))
    # a broken line sends its whole batch down the line-by-line path
    messy = sources.load_events(write(tmp_path / "messy.jsonl", jsonl_bytes(rows) + b"{\n"))
    pd.testing.assert_frame_equal(clean.events, messy.events)
    assert clean.events["timestamp"].tolist() == [
        pd.Timestamp("2026-03-01T08:00:00Z"),
        pd.Timestamp("2026-03-01T08:00:00.500Z"),
        pd.Timestamp("2026-03-01T08:00:00.250Z"),
    ]
    assert messy.rejects["reason"].tolist() == ["invalid JSON"]


def test_jsonl_numbers_and_nested_values_become_text(tmp_path):
    line = {"timestamp": "2026-03-01T08:00:00Z", "agent_id": 17, "customer_id": 2.5, "action": "view", "resource": {"a": 1}, "event_id": True}
    events = sources.load_events(write(tmp_path / "a.jsonl", jsonl_bytes([line]))).events
    assert events.loc[0, ["agent_id", "customer_id", "resource", "event_id"]].tolist() == ["17", "2.5", '{"a":1}', "true"]


def test_jsonl_two_objects_on_one_line_is_one_rejected_line(tmp_path):
    data = (json.dumps(ROWS[0]) + json.dumps(ROWS[1]) + "\n" + json.dumps(ROWS[2]) + "\n").encode()
    loaded = sources.load_events(write(tmp_path / "a.jsonl", data))
    assert len(loaded.events) == 1
    assert loaded.rejects[["line", "reason"]].values.tolist() == [[1, "invalid JSON"]]


def test_parquet_reject_lines_are_row_numbers_and_types_are_converted(tmp_path):
    table = pa.table(
        {
            "timestamp": pa.array(
                [pd.Timestamp("2026-03-01T08:00:00Z"), None, pd.Timestamp("2026-03-01T09:00:00Z")],
                pa.timestamp("us", "UTC"),
            ),
            "agent_id": pa.array(["A1", "A2", "A3"]).dictionary_encode(),
            "customer_id": pa.array([100, 101, 102], pa.int64()),
            "action": pa.array(["View", "view", None]),
        }
    )
    path = tmp_path / "a.parquet"
    pq.write_table(table, path, row_group_size=2)
    loaded = sources.load_events(path, batch_rows=2)
    assert loaded.events["customer_id"].tolist() == ["100"]
    assert loaded.events["action"].tolist() == ["view"]
    assert loaded.rejects[["line", "reason"]].values.tolist() == [[2, "unparseable timestamp"], [3, "empty action"]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T08:00:00Z", "2026-03-01T08:00:00Z"),
        ("2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00Z"),
        ("2026-03-01T03:00:00-05:00", "2026-03-01T08:00:00Z"),
        ("2026-03-01T08:00:00", "2026-03-01T08:00:00Z"),
        ("2026-03-01 08:00:00", "2026-03-01T08:00:00Z"),
        ("1772352000", "2026-03-01T08:00:00Z"),
        ("1772352000123", "2026-03-01T08:00:00.123Z"),
        ("2026-02-30T08:00:00Z", "unparseable timestamp"),
        ("yesterday", "unparseable timestamp"),
        ("", "unparseable timestamp"),
        ("1985-06-01T00:00:00Z", "timestamp outside 1990-2099"),
        ("2300-01-01T00:00:00Z", "unparseable timestamp"),
    ],
)
@pytest.mark.parametrize("name", ["a.csv", "a.jsonl", "a.parquet"])
def test_timestamp_forms(tmp_path, name, value, expected):
    # alone in a file (Arrow's fast path) and mixed with a plain row (the general path)
    for rows in ([dict(ROWS[0], timestamp=value)], [ROWS[0], dict(ROWS[0], timestamp=value)]):
        loaded = sources.load_events(write_rows(tmp_path / name, rows))
        if expected[0].isdigit():
            assert loaded.events["timestamp"].iloc[-1] == pd.Timestamp(expected)
            assert loaded.rejects.empty
        else:
            assert loaded.rejects["reason"].tolist() == [expected]
            assert loaded.rejects["line"].tolist() == [len(rows) + (1 if name.endswith(".csv") else 0)]


def test_very_long_field_is_rejected_not_cut(tmp_path):
    long_value = "x" * (schema.MAX_FIELD_LENGTH + 1)
    rows = [ROWS[0], dict(ROWS[1], resource=long_value), dict(ROWS[2], customer_id="é" * schema.MAX_FIELD_LENGTH)]
    for name in ("a.csv", "a.jsonl", "a.parquet"):
        loaded = sources.load_events(write_rows(tmp_path / name, rows))
        assert loaded.rejects["reason"].tolist() == [f"resource longer than {schema.MAX_FIELD_LENGTH} characters"]
        # 1024 two-byte characters are within the limit: it counts characters, not bytes
        assert loaded.events["customer_id"].str.len().tolist() == [4, schema.MAX_FIELD_LENGTH]
        assert len(loaded.rejects["raw"].item()) <= schema.RAW_KEEP


# --- whole-file errors and empty files ------------------------------------------------------
@pytest.mark.parametrize("name", ["a.csv", "a.csv.gz", "a.jsonl", "a.parquet"])
def test_missing_required_column_names_file_and_column_before_any_batch(tmp_path, name):
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in ROWS]
    path = tmp_path / name
    if name.endswith(".parquet"):
        write_parquet(path, rows)
    elif "csv" in name:
        write(path, csv_bytes(rows, header=[c for c in HEADER if c != "customer_id"]))
    else:
        write(path, jsonl_bytes(rows))
    batches = sources.read_events(path)
    with pytest.raises(InputError) as info:
        next(batches)
    assert info.value.context == {"file": str(path), "column": "customer_id"}
    assert "customer_id" in str(info.value) and str(path) in str(info.value)


def test_missing_column_in_a_later_file_stops_before_that_file(tmp_path):
    write_rows(tmp_path / "a.csv", ROWS)
    write(tmp_path / "b.csv", b"timestamp,agent_id\n2026-03-01T08:00:00Z,A1\n")
    got = []
    with pytest.raises(InputError, match="customer_id"):
        for batch in sources.read_events(tmp_path):
            got.append(batch)
    assert [b.source.name for b in got] == ["a.csv"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.csv", b""),
        ("empty.csv.gz", b""),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n\n  \n"),
        ("header.csv", (",".join(HEADER) + "\n").encode()),
        ("header-no-newline.csv", ",".join(HEADER).encode()),
        ("header.csv.gz", (",".join(HEADER) + "\r\n").encode()),
    ],
)
def test_empty_and_header_only_files_give_zero_rows(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") and data else data)
    loaded = sources.load_events(path)
    assert loaded.events.empty and loaded.rejects.empty
    pd.testing.assert_frame_equal(loaded.events, schema.empty_events())
    (stats,) = loaded.report.files
    assert (stats.rows_read, stats.rows_accepted, stats.rows_rejected) == (0, 0, 0)
    assert stats.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_empty_parquet_gives_zero_rows(tmp_path):
    loaded = sources.load_events(write_parquet(tmp_path / "a.parquet", []))
    assert loaded.events.empty and loaded.report.rows_read == 0


def test_header_only_file_still_needs_the_required_columns(tmp_path):
    path = write(tmp_path / "a.csv", b"timestamp,agent_id\n")
    with pytest.raises(InputError, match="customer_id"):
        sources.load_events(path)


@pytest.mark.parametrize("name", ["a.csv.gz", "a.jsonl.gz"])
def test_truncated_gzip_is_an_input_error_naming_the_file(tmp_path, name):
    rows = [dict(ROWS[0], event_id=f"E{i}") for i in range(2000)]
    data = csv_bytes(rows) if "csv" in name else jsonl_bytes(rows)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data)[:-100])
    with pytest.raises(InputError, match="truncated") as info:
        sources.load_events(path)
    assert info.value.context["file"] == str(path)


@pytest.mark.parametrize("name", ["a.csv.gz", "a.jsonl.gz"])
def test_file_that_is_not_gzip_is_an_input_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(csv_bytes(ROWS))
    with pytest.raises(InputError) as info:
        sources.load_events(path)
    assert info.value.context["file"] == str(path)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_corrupt_parquet_is_an_input_error_naming_the_file(tmp_path, cut):
    good = write_parquet(tmp_path / "good.parquet", ROWS)
    data = good.read_bytes()
    path = tmp_path / "bad.parquet"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InputError) as info:
        sources.load_events(path)
    assert info.value.context["file"] == str(path)
    path.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    with pytest.raises(InputError, match="Parquet"):
        sources.load_events(path)


# --- mapping ----------------------------------------------------------------------------
def test_mapping_renames_raw_fields_before_validation(tmp_path):
    raw = [{"ts": r["timestamp"], "user": r["agent_id"], "customer_id": r["customer_id"], "op": r["action"], "agent_id": "ignored"} for r in ROWS]
    rename = {"ts": "timestamp", "user": "agent_id", "op": "action"}
    header = ["ts", "user", "customer_id", "op", "agent_id"]
    for path in (
        write(tmp_path / "a.csv", csv_bytes(raw, header=header)),
        write(tmp_path / "a.jsonl", jsonl_bytes(raw)),
        write_parquet(tmp_path / "a.parquet", raw),
    ):
        events = sources.load_events(path, mapping=rename).events
        assert events["agent_id"].tolist() == ["A1", "A1", "A2"], path
        assert events["action"].tolist() == ["view", "export", "search"]
        assert sources.load_events(path, mapping=sources.Mapping(rename=rename)).events.equals(events)


def test_mapping_select_prefers_renamed_columns_and_rejects_unknown_targets():
    mapping = sources.Mapping(rename={"user": "agent_id", "login": "agent_id", "time": "timestamp"})
    assert mapping.select(["login", "agent_id", "time", "extra"]) == {"timestamp": "time", "agent_id": "login"}
    assert mapping.select(["user", "login"]) == {"agent_id": "user"}
    frame = pd.DataFrame({"login": ["a"], "time": ["t"], "extra": [1]})
    assert list(mapping.apply(frame).columns) == ["timestamp", "agent_id"]
    with pytest.raises(InputError, match="unknown canonical column 'agent'"):
        sources.Mapping(rename={"user": "agent"})


# --- roster -----------------------------------------------------------------------------
def write_roster(tmp_path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_roster_types_and_optional_columns(tmp_path):
    path = write_roster(
        tmp_path,
        "\ufeffagent_id,team,role,start_date,end_date,timezone,notes\nA1,billing, Team_Lead ,2024-01-15,,Europe/Berlin,x\nA2,,agent,,2026-06-30,,y\n",
    )
    roster = sources.read_roster(path)
    assert list(roster.columns) == list(schema.ROSTER_COLUMNS)
    assert roster["agent_id"].tolist() == ["A1", "A2"]
    assert roster["role"].tolist() == ["team_lead", "agent"]
    assert roster["start_date"].dtype == "datetime64[ns]"
    assert roster.loc[0, "start_date"] == pd.Timestamp("2024-01-15")
    assert pd.isna(roster.loc[1, "start_date"]) and pd.isna(roster.loc[0, "end_date"])
    assert roster["timezone"].tolist()[0] == "Europe/Berlin" and pd.isna(roster.loc[1, "timezone"])
    assert roster["vendor"].isna().all() and pd.isna(roster.loc[1, "team"])


def test_read_roster_header_only_is_empty(tmp_path):
    roster = sources.read_roster(write_roster(tmp_path, "agent_id,vendor\n"))
    assert roster.empty and list(roster.columns) == list(schema.ROSTER_COLUMNS)


@pytest.mark.parametrize(
    ("text", "message", "context"),
    [
        ("team\nbilling\n", "missing required column 'agent_id'", {"column": "agent_id"}),
        ("agent_id,team\nA1,x\nA2,y\nA1,z\n", "agent 'A1' appears more than once", {"line": 4, "agent": "A1"}),
        ("agent_id,timezone\nA1,UTC\nA2,Mars/Olympus\n", "unknown time zone 'Mars/Olympus' for agent 'A2'", {"line": 3, "agent": "A2"}),
        ("agent_id,timezone\nA1,../etc/passwd\n", "unknown time zone", {"agent": "A1"}),
        ("agent_id,start_date\nA1,2024-02-30\n", "start_date '2024-02-30' of agent 'A1' is not a date", {"agent": "A1"}),
        ("agent_id,start_date\nA1,15/01/2024\n", "is not a date", {"agent": "A1"}),
        ("agent_id,start_date,end_date\nA1,2024-05-01,2024-04-01\n", "before its start_date", {"agent": "A1"}),
        ("agent_id,end_date\nA1,9999-12-31\n", "too far in the future", {"agent": "A1"}),
        ("agent_id,team\n,x\n", "without agent_id", {"line": 2}),
    ],
)
def test_read_roster_errors_name_file_agent_and_value(tmp_path, text, message, context):
    path = write_roster(tmp_path, text)
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as info:
        sources.read_roster(path)
    assert info.value.context["file"] == str(path)
    for key, value in context.items():
        assert info.value.context[key] == value


def test_read_roster_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        sources.read_roster(tmp_path / "nope.csv")


def test_a_file_a_directory_brought_in_that_is_not_a_log_says_why_it_was_read(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.csv").write_text("timestamp,agent_id,customer_id,action\n2026-01-05T09:00:00Z,a1,c1,view\n")
    (logs / "roster.csv").write_text("agent_id,team\na1,T1\n")
    with pytest.raises(InputError) as err:
        list(sources.read_events(logs))
    assert err.value.context["file"].endswith("roster.csv") and "a directory or pattern given as input holds it" in str(err.value)
    with pytest.raises(InputError) as err:
        list(sources.read_events(str(logs / "*.csv")))
    assert "a directory or pattern given as input holds it" in str(err.value)
    with pytest.raises(InputError) as err:  # named by itself: the plain message
        list(sources.read_events([logs / "roster.csv"]))
    assert "missing required column 'timestamp'" in str(err.value) and "directory or pattern" not in str(err.value)
