"""Hostile CSV (issue 14): a stray quote cannot swallow a file, a header cannot stall the
reader, and every physical line is accounted for."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import sources
from detector.errors import InputError
from detector.sources.csv import MAX_FIELD_LINES

from .conftest import INSIDERWATCH

ROOT = Path(__file__).resolve().parents[1]
HEADER = b"timestamp,agent_id,customer_id,action\n"


def good_rows(n: int, start: int = 0) -> bytes:
    return b"".join(b"2026-03-01T08:%02d:%02dZ,A%d,C%d,view\n" % (i // 60 % 60, i % 60, i % 50, i) for i in range(start, start + n))


def test_one_bad_quote_in_row_one_loses_one_row_of_200000(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(HEADER + b'2026-03-01T08:00:00Z,"A1,C1,view\n' + good_rows(199_999, start=1))
    report = sources.IngestReport()
    accepted = rejected = 0
    rejects = []
    for batch in sources.read_events(path, report=report):
        accepted += len(batch.accepted)
        rejected += len(batch.rejects)
        rejects.append(batch.rejects)
    assert (accepted, rejected) == (199_999, 1)
    stats = report.files[0]
    assert (stats.rows_read, stats.rows_accepted, stats.rows_rejected) == (200_000, 199_999, 1)
    # 200,001 lines (the header included) made 200,001 records
    assert (stats.lines, stats.blank_lines, stats.records) == (200_001, 0, 200_001)
    assert report.lines == 200_001
    bad = [r for r in rejects if len(r)][0]
    assert bad["line"].tolist() == [2]
    assert bad["reason"].item() == f"unclosed quote: the field runs past {MAX_FIELD_LINES:,} lines"
    assert '"A1,C1,view' in bad["raw"].item()


def test_quoted_line_breaks_within_the_limit_are_still_one_record(tmp_path):
    note = b"\n".join(b"line %d" % i for i in range(MAX_FIELD_LINES - 1))
    path = tmp_path / "notes.csv"
    path.write_bytes(b'timestamp,agent_id,note,customer_id,action\n2026-03-01T08:00:00Z,A1,"' + note + b'",C1,view\n2026-03-01T08:00:01Z,A2,x,C2,view\n')
    loaded = sources.load_events(path)
    assert loaded.events["agent_id"].tolist() == ["A1", "A2"]
    stats = loaded.report.files[0]
    assert (stats.lines, stats.records) == (MAX_FIELD_LINES + 1, 3)


def test_header_with_an_odd_quote_then_256k_short_lines_is_refused(tmp_path):
    path = tmp_path / "stall.csv"
    path.write_bytes(b'timestamp,"agent_id,customer_id,action\n' + b"a\n" * (256 * 1024))
    with pytest.raises(InputError) as caught:
        list(sources.read_events(path))
    assert caught.value.context["file"] == str(path)
    assert "header" in caught.value.message


def test_a_200_kib_header_field_is_an_input_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(b"timestamp,agent_id,customer_id,action," + b"x" * (200 * 1024) + b"\n" + good_rows(3))
    with pytest.raises(InputError) as caught:
        list(sources.read_events(path))
    assert caught.value.context["file"] == str(path)


def test_a_200_kib_quoted_header_field_is_an_input_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(b'timestamp,agent_id,customer_id,action,"' + b"x" * (200 * 1024) + b'"\n' + good_rows(3))
    with pytest.raises(InputError):
        list(sources.read_events(path))


PIECES = st.sampled_from([b'"', b'""', b",", b"\n", b"\r\n", b"\r", b"a", b"2026-03-01T08:00:00Z", b"A1", b"C1", b"view", b" ", b"\xff", b"\x00", b"\xef\xbb\xbf"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(PIECES, max_size=60).map(b"".join), header=st.sampled_from([HEADER, b'"timestamp","agent_id","customer_id","action"\r\n']))
def test_arbitrary_bytes_never_crash_and_every_row_and_line_is_accounted(tmp_path, body, header):
    path = tmp_path / "h.csv"
    data = header + body
    path.write_bytes(data)
    loaded = sources.load_events(path)  # no body, however broken, fails the file
    stats = loaded.report.files[0]
    assert stats.rows_read == stats.rows_accepted + stats.rows_rejected
    assert stats.rows_read == len(loaded.events) + len(loaded.rejects)
    # every physical line is the header's, blank, or part of a record Arrow read
    text = data.removeprefix(b"\xef\xbb\xbf")
    breaks = text.count(b"\n") + text.count(b"\r") - text.count(b"\r\n")
    assert stats.lines == breaks + (0 if text.endswith((b"\n", b"\r")) else 1)
    assert stats.records is not None and stats.blank_lines is not None
    assert stats.records == stats.rows_read + 1
    assert stats.lines >= stats.blank_lines + stats.records


def test_nightly_scores_the_day_a_bad_quote_used_to_swallow(tmp_path):
    with gzip.open(ROOT / "sample_logs" / "events.csv.gz", "rb") as handle:
        header = handle.readline()
        day = [line for line in handle if line.startswith(b"2026-01-05")]
    first = day[0].split(b",")
    first[1] = b'"' + first[1]  # an unescaped quote opened in the first data row
    path = tmp_path / "day.csv"
    path.write_bytes(header + b",".join(first) + b"".join(day[1:]))
    proc = subprocess.run(
        [*INSIDERWATCH, "--db", f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", str(path), "--date", "2026-01-05"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "no events of this day" not in out
    assert f"{len(day):,} rows read = {len(day) - 1:,} accepted + 1 rejected" in out


def test_a_row_with_too_few_fields_and_a_byte_that_is_not_utf8_is_one_reject_not_a_failed_file(tmp_path):
    """Arrow fails the whole file when a record with the wrong number of fields is not UTF-8
    (it cannot hand the row's text to the invalid-row handler); the reader rejects that row
    alone, with its field count, and a row whose fields are right is still rejected per
    column. Rows are numbered by record, as every CSV reject is (the header is record 1)."""
    path = tmp_path / "day.csv"
    path.write_bytes(
        HEADER
        + good_rows(3)
        + b"2026-03-01T09:00:00Z,A1,C\xff9\n"  # record 5: 3 fields, not UTF-8
        + b'2026-03-01T09:01:00Z,A1,"C\xfe\n9",view,extra\r\n'  # record 6: 5 fields over two lines
        + b"2026-03-01T09:02:00Z,A\xfd1,C9,view\n"  # record 7: 4 fields, agent id not UTF-8
        + good_rows(3, start=10)
    )
    proc = subprocess.run(
        [*INSIDERWATCH, "--db", f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", str(path), "--date", "2026-03-01"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "9 rows read = 6 accepted + 3 rejected" in proc.stdout + proc.stderr
    rejects = subprocess.run([*INSIDERWATCH, "--db", f"sqlite:///{tmp_path / 'iw.db'}", "rejects", "1"], capture_output=True, text=True, check=True).stdout
    lines = rejects.splitlines()
    assert any(",5,expected 4 fields, found 3," in line.replace('"', "") for line in lines), rejects
    assert any(",6,expected 4 fields, found 5," in line.replace('"', "") for line in lines), rejects
    assert any(",7,invalid UTF-8 in agent_id," in line for line in lines), rejects
