"""Output an insider's values cannot abuse (issue 14): a report directory holds only the run
that wrote it (no revealed page left behind a pseudonymised report), temporary files are
never written through a planted symlink, error messages and ids reach a terminal escaped
(control, invisible and bidi characters), and reports and exports are private (0600, or
``[report] file_mode``)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.output import terminal_safe
from pipelines.report import REPORT_MANIFEST
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH

#: an agent id that looks like a plain one on a terminal: a zero-width space and a
#: right-to-left override inside
SNEAKY_AGENT = "A\u200b00777\u202e"
CLEAR_CUSTOMER = re.compile(r"\bC\d{7}\b")  # the simulator's customer ids


def iw(*args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([*INSIDERWATCH, *map(str, args)], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A small desk replayed into a store; its bulk harvester's id holds U+200B and U+202E."""
    work = tmp_path_factory.mktemp("hostile-output")
    data = work / "desk"
    run_simulation(SimulationSpec(agents=60, days=21, seed=5, insiders={"bulk": 1}), data, show_progress=False)
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    insider = labels.agent_id[0]
    events = pd.read_csv(data / "events.csv.gz", dtype=str, keep_default_na=False)
    events.loc[events.agent_id == insider, "agent_id"] = SNEAKY_AGENT
    events.to_csv(work / "events.csv.gz", index=False)
    roster = pd.read_csv(data / "roster.csv", dtype=str, keep_default_na=False)
    roster.loc[roster.agent_id == insider, "agent_id"] = SNEAKY_AGENT
    roster.to_csv(work / "roster.csv", index=False)
    db = f"sqlite:///{work / 'iw.db'}"
    iw("-q", "--db", db, "replay", "--events", work / "events.csv.gz", "--roster", work / "roster.csv", "--show", "0")
    return {"work": work, "db": db, "start": labels.start_day[0], "end": labels.end_day[0]}


# --- terminal escaping -------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\u200b", "\u200e", "\u200f", "\u061c", "\ufeff", "\u202a", "\u202e", "\u2066", "\u2069", "\u00ad", "\u2060", "\U000e0041"])
def test_invisible_and_bidi_characters_are_shown_escaped(char):
    shown = terminal_safe(f"A{char}1")
    code = ord(char)
    assert shown == "A" + (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}") + "1"
    assert shown.isascii()


def test_terminal_safe_still_escapes_controls_and_keeps_ordinary_text():
    assert terminal_safe("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert terminal_safe("a\nb") == "a b"
    assert terminal_safe("Zoë Ångström 3.2× tab\there") == "Zoë Ångström 3.2× tab\there"
    assert terminal_safe("A\u00a01") == "A\\xa01"  # a no-break space is not the space it looks like


def test_an_escape_sequence_in_a_header_name_reaches_stderr_escaped(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("\x1b[31mts,agent_id,customer_id,action\n2026-01-01T00:00:00Z,a,c,view\n")
    proc = iw("--db", f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", events, "--date", "2026-01-01", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "\x1b" not in proc.stderr and "\\x1b[31mts" in proc.stderr


def test_an_escape_sequence_in_a_file_name_reaches_stderr_escaped(tmp_path):
    pattern = tmp_path / "nothing\x1b]0;pwned\x07\u202e*.csv"
    proc = iw("--db", f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", pattern, "--date", "2026-01-01", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "\u202e" not in proc.stderr
    assert "nothing\\x1b]0;pwned\\x07\\u202e*.csv" in proc.stderr


def test_a_usage_error_quoting_a_value_reaches_stderr_escaped(tmp_path):
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    for args in (["nosuch\x1b[2J"], ["export", "scores", "--format", "x\x1b[2J\u200b"], ["--config", tmp_path / "x\x1b[2J.toml", "runs"]):
        proc = iw("--db", db, *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "\x1b" not in proc.stderr and "\u200b" not in proc.stderr and "\\x1b[2J" in proc.stderr


@pytest.mark.slow
def test_an_escape_sequence_in_a_roster_id_reaches_stderr_escaped(desk, tmp_path):
    """A roster that names one agent twice is refused, naming the agent: escaped."""
    roster = pd.read_csv(desk["work"] / "roster.csv", dtype=str, keep_default_na=False)
    twice = pd.concat([roster, roster.head(1), roster.head(1)], ignore_index=True)
    twice.loc[twice.index[-2:], "agent_id"] = "A\x1b]0;pwned\x07"
    twice.to_csv(tmp_path / "roster.csv", index=False)
    proc = iw(
        "--db", f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", desk["work"] / "events.csv.gz", "--roster", tmp_path / "roster.csv", "--date", desk["start"], check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert "agent=A\\x1b]0;pwned\\x07" in proc.stderr  # the error's context, escaped like the rest


@pytest.mark.slow
def test_an_agent_id_with_invisible_characters_is_shown_escaped_by_alerts(desk):
    out = iw("--db", desk["db"], "alerts", "--date", desk["start"]).stdout
    assert "A\\u200b00777\\u202e" in out
    assert "\u200b" not in out and "\u202e" not in out


# --- reports ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_pseudonymised_report_replaces_a_revealed_one_in_the_same_directory(desk, tmp_path):
    site = tmp_path / "site"
    iw("-q", "--db", desk["db"], "report", "--reveal-customers", "--from", desk["start"], "--to", desk["end"], "--out", site)
    revealed = {p.name for p in site.iterdir()}
    assert any(CLEAR_CUSTOMER.search(p.read_text()) for p in site.glob("agent-*.html")), "the revealed report shows customer ids"
    iw("-q", "--db", desk["db"], "report", "--date", desk["end"], "--out", site, env={"INSIDERWATCH_PSEUDONYM_KEY": "k"})
    assert "pseudonymised" in (site / "index.html").read_text()
    left = sorted(p for p in site.rglob("*"))
    assert all(p.is_file() for p in left), left  # no staging directory either
    for page in left:
        assert not CLEAR_CUSTOMER.search(page.read_text()), f"{page.name} still shows a customer id"
    listed = set((site / REPORT_MANIFEST).read_text().splitlines())
    assert {p.name for p in left} == listed | {REPORT_MANIFEST}
    assert len(revealed) > len(listed)  # the earlier report's other days' pages are gone
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # nothing beside it either


@pytest.mark.slow
def test_a_directory_holding_other_files_is_refused_and_left_as_it_was(desk, tmp_path):
    site = tmp_path / "documents"
    site.mkdir()
    (site / "thesis.docx").write_text("years of work")
    proc = iw("-q", "--db", desk["db"], "report", "--out", site, check=False)
    assert proc.returncode == 2 and "not an insiderwatch report" in proc.stderr and "thesis.docx" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in site.iterdir()) == ["thesis.docx"]
    assert (site / "thesis.docx").read_text() == "years of work"


@pytest.mark.slow
def test_report_and_export_files_are_private_by_default(desk, tmp_path):
    site = tmp_path / "site"
    iw("-q", "--db", desk["db"], "report", "--date", desk["start"], "--out", site)
    assert mode_of(site) == 0o700
    assert {mode_of(p) for p in site.iterdir()} == {0o600}
    for fmt in ("csv", "jsonl", "ocsf"):
        out = tmp_path / f"alerts.{fmt}"
        iw("-q", "--db", desk["db"], "export", "alerts", "--format", fmt, "--out", out)
        assert mode_of(out) == 0o600, fmt
    runs = iw("-q", "--db", desk["db"], "runs", "--format", "csv").stdout
    run_id = runs.splitlines()[1].split(",")[0]
    iw("-q", "--db", desk["db"], "rejects", run_id, "--out", tmp_path / "rejects.csv")
    assert mode_of(tmp_path / "rejects.csv") == 0o600


@pytest.mark.slow
def test_file_mode_is_configurable(desk, tmp_path):
    config = tmp_path / "insiderwatch.toml"
    config.write_text('[report]\nfile_mode = "0640"\n')
    site = tmp_path / "site"
    iw("-q", "--config", config, "--db", desk["db"], "report", "--date", desk["start"], "--out", site)
    assert mode_of(site) == 0o750 and {mode_of(p) for p in site.iterdir()} == {0o640}
    iw("-q", "--config", config, "--db", desk["db"], "export", "scores", "--out", tmp_path / "s.csv")
    assert mode_of(tmp_path / "s.csv") == 0o640


@pytest.mark.parametrize("bad", ["0666", "0400", "rw-r-----", "01777"])
def test_a_bad_file_mode_is_a_usage_error(tmp_path, bad):
    config = tmp_path / "insiderwatch.toml"
    config.write_text(f'[report]\nfile_mode = "{bad}"\n')
    proc = iw("--config", config, "--db", f"sqlite:///{tmp_path / 'iw.db'}", "runs", check=False)
    assert proc.returncode == 2 and "report.file_mode" in proc.stderr


# --- exports ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_export_does_not_follow_a_symlink_planted_at_its_temporary_name(desk, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "alerts.csv"
    (tmp_path / "alerts.csv.partial").symlink_to(victim)
    iw("-q", "--db", desk["db"], "export", "alerts", "--out", out)
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and out.read_text().startswith("alert_key,") and mode_of(out) == 0o600
    assert (tmp_path / "alerts.csv.partial").is_symlink()  # left alone, not written through
    # a symlink at the file's own name is replaced by the export, its target untouched
    other = tmp_path / "scores.csv"
    other.symlink_to(victim)
    iw("-q", "--db", desk["db"], "export", "scores", "--out", other)
    assert victim.read_text() == "precious" and not other.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.csv", "alerts.csv.partial", "scores.csv", "victim.txt"]
