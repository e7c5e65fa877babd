"""The results store reads back what was written, replaces a rescored day, keeps hostile
strings as data. Runs on SQLite always, and on PostgreSQL when INSIDERWATCH_TEST_PG is set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from detector import schema
from detector.aggregate import AGENT_DAY_COLUMNS, Touched, customer_hashes
from detector.alerts import Alert
from detector.errors import InsiderwatchError, UsageError
from detector.store import STORED_COUNTS, DayResults, Store

from .conftest import pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        st = Store(f"sqlite:///{tmp_path / 'store.db'}")
        yield st
        st.close()
        return
    with pg_schema("set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run the store tests on PostgreSQL") as url:
        st = Store(url)
        yield st
        st.close()


HOSTILE = "a'); DROP TABLE scores;--<script>alert(1)</script>"


def _results(day: str, agents: list[str], flagged: str | None = None) -> DayResults:
    ad = pd.DataFrame([{**dict.fromkeys(AGENT_DAY_COLUMNS[2:], 1), "day": day, "agent_id": a, "views": 10 + i, "new_customers": i} for i, a in enumerate(agents)])
    hashes = customer_hashes([f"C{i}" for i in range(len(agents) * 2)])
    touched = Touched(day, np.array(agents, dtype=object), np.full(len(agents), 2, np.int64), hashes)
    inputs = pd.DataFrame({"agent_id": agents, "x__z": np.arange(len(agents), dtype=float), "y__z": 0.5})
    scores = pd.DataFrame(
        {
            "agent_id": agents,
            "score": np.linspace(3, 0, len(agents)),
            "raw_score": np.linspace(1, 0, len(agents)),
            "rank_score": np.linspace(3, 0, len(agents)),
            "rank": np.arange(1, len(agents) + 1),
            "flagged": [a == flagged for a in agents],
            "history_days": 5,
            "team": "T1",
            "role": "agent",
            "site": "s",
            "vendor": "v",
            "contributions": [json.dumps({"x__z": 0.1})] + [None] * (len(agents) - 1),
        }
    )
    alerts, evidence = [], pd.DataFrame()
    if flagged:
        key = f"k-{flagged}-{day}"
        alerts = [Alert(alert_key=key, subject_type="agent", subject_id=flagged, score=3.0, rank=1, reasons=["r1 " + HOSTILE, "r2"], members=None, detector_version="v")]
        ev = schema.validate(
            pd.DataFrame(
                {
                    "timestamp": ["2026-01-05T09:00:00.123Z", "2026-01-05T09:01:00Z"],
                    "agent_id": [flagged] * 2,
                    "customer_id": [HOSTILE, "C2"],
                    "action": ["view", "view"],
                    "ticket_id": ["", "=cmd|' /C calc'!A0"],
                }
            )
        ).accepted
        evidence = ev.assign(alert_key=key)
    return DayResults(day=day, agent_days=ad, inputs=inputs, scores=scores, alerts=alerts, evidence=evidence, events=100, peer_mode=False, touched=touched)


def test_written_day_reads_back(store):
    agents = ["A1", "A2", HOSTILE]
    run = store.start_run("nightly", config={"k": 1}, detector_version="v", day_from="2026-01-05", day_to="2026-01-05")
    store.write_day(run, _results("2026-01-05", agents, flagged=HOSTILE))
    store.finish_run(run, status="complete", manifest={"rows": 3})

    ad = store.agent_days("2026-01-01", "2026-01-06")
    assert sorted(ad.agent_id) == sorted(agents) and list(ad.columns) == ["day", "agent_id", *STORED_COUNTS]
    assert ad.set_index("agent_id").loc["A2", "views"] == 11 and ad.set_index("agent_id").loc[HOSTILE, "new_customers"] == 2
    assert ad["team_new_customers"].isna().all()  # not given: stored as NULL, not as 0
    (back,) = store.touched("2026-01-01", "2026-01-06")
    got = dict(zip(back.agents, np.split(back.hashes, np.cumsum(back.counts)[:-1])))
    hashes = customer_hashes([f"C{i}" for i in range(6)])
    assert back.day == "2026-01-05" and sorted(got) == sorted(agents) and list(got[HOSTILE]) == list(hashes[4:6])
    names, inputs = store.model_inputs("2026-01-01", "2026-01-06")
    assert names == ["x__z", "y__z"] and inputs.set_index("agent_id").loc[HOSTILE, "x__z"] == 2.0
    sc = store.scores("2026-01-05", "2026-01-05")
    assert list(sc.sort_values("rank").agent_id) == agents
    assert sc.set_index("agent_id").loc[HOSTILE, "flagged"]
    al = store.alerts("2026-01-05", "2026-01-05")
    assert al.subject_id.tolist() == [HOSTILE] and al.reasons[0] == ["r1 " + HOSTILE, "r2"]
    ev = store.evidence(al.alert_key[0])
    assert ev.customer_id.tolist() == [HOSTILE, "C2"] and ev.ticket_id.tolist()[1] == "=cmd|' /C calc'!A0"
    assert ev.timestamp[0] == "2026-01-05T09:00:00.123000Z"
    assert store.run(run)["status"] == "complete" and json.loads(store.run(run)["manifest"]) == {"rows": 3}
    assert store.scored_days() == ["2026-01-05"] and store.latest_day() == "2026-01-05"


def test_rescoring_a_day_replaces_it(store):
    run1 = store.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
    store.write_day(run1, _results("2026-01-05", ["A1", "A2"], flagged="A1"))
    store.write_day(run1, _results("2026-01-06", ["A1", "A2"], flagged="A2"))
    run2 = store.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
    store.write_day(run2, _results("2026-01-05", ["A1", "A3"], flagged="A3"))
    sc = store.scores("2026-01-05", "2026-01-05")
    assert sorted(sc.agent_id) == ["A1", "A3"] and set(sc.run_id) == {run2}
    al = store.alerts()
    assert sorted(zip(al.day, al.subject_id)) == [("2026-01-05", "A3"), ("2026-01-06", "A2")]
    assert len(store.evidence("k-A1-2026-01-05")) == 0
    assert store.scored_days() == ["2026-01-05", "2026-01-06"]
    # append-only: the first run's results of the rescored day are kept, marked superseded
    old_scores, old_alerts = store.run_results(run1)
    day5 = old_scores[old_scores.day == "2026-01-05"]
    assert sorted(day5.agent_id) == ["A1", "A2"] and set(day5.superseded_by) == {run2}
    assert old_scores[old_scores.day == "2026-01-06"].superseded_by.isna().all()
    assert sorted(zip(old_alerts.day, old_alerts.subject_id)) == [("2026-01-05", "A1"), ("2026-01-06", "A2")]


def test_copied_days_carry_every_suppression_as_it_is(store, tmp_path):
    """verify recomputes a run in a scratch store built by copy_days: the suppressions go with
    the days, all of them (they are not per day), with the ids alerts record as suppressed_by
    and the created_at and until that decide which days they cover."""
    run = store.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
    store.write_day(run, _results("2026-01-05", ["A1", "A2"], flagged="A1"))
    first = store.add_suppression("A1", until="2026-01-20", reason=HOSTILE, ticket="T-1", owner="lead", from_alert="k-A1-2026-01-05", pattern="volume")
    past = store.add_suppression(HOSTILE, until="2026-01-03", reason="ended", ticket="T-2", owner="lead")
    held = store.suppressions()
    assert held.id.tolist() == [first, past]
    for day_list, name in ((["2026-01-05"], "scratch.db"), ([], "no-history.db")):
        scratch = Store(f"sqlite:///{tmp_path / name}")
        try:
            store.copy_days(scratch, day_list)
            copied = scratch.suppressions()
            columns = ["id", "agent_id", "until", "created_at", "pattern", "reason", "ticket", "owner", "from_alert"]
            assert copied[columns].to_dict("records") == held[columns].to_dict("records")
            assert scratch.add_suppression("A2", until="2026-01-09", reason="r", ticket="T-3", owner="lead") > past  # no id taken twice
        finally:
            scratch.close()


def test_failed_write_leaves_the_day_as_it_was(store):
    run = store.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
    store.write_day(run, _results("2026-01-05", ["A1", "A2"], flagged="A1"))
    broken = _results("2026-01-05", ["A7", "A7"])  # duplicate agent: primary key violation
    with pytest.raises(InsiderwatchError, match="cannot write the results of 2026-01-05"):
        store.write_day(run, broken)
    assert sorted(store.scores("2026-01-05", "2026-01-05").agent_id) == ["A1", "A2"]
    assert store.alerts().subject_id.tolist() == ["A1"]


def test_rejects_round_trip(store):
    run = store.start_run("replay", config={}, detector_version="v", day_from=None, day_to=None)
    frame = pd.DataFrame({"source": ["f.csv", "f.csv"], "line": [3, 9], "reason": ["empty agent_id", "unparseable timestamp"], "raw": ['{"a": 1}', HOSTILE]})
    store.add_rejects(run, frame)
    back = store.rejects(run)
    assert back[["line", "reason", "raw"]].values.tolist() == [[3, "empty agent_id", '{"a": 1}'], [9, "unparseable timestamp", HOSTILE]]


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _old_store(store, revision: str, *, version: str, detector_version: str, alembic_table: bool = True) -> None:
    """Empty the fixture's store and build it as schema ``revision`` left it, with one run
    and one agent-day (a hostile agent id, every count 3)."""
    from alembic import command

    from detector.store import alembic_config, metadata

    engine = create_engine(_url(store))
    with engine.begin() as conn:
        for table in (*metadata.tables, "alembic_version"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        command.upgrade(alembic_config(conn), revision)
        if not alembic_table:
            conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO store_meta (key, value) VALUES ('schema_version', :v)"), {"v": version})
        conn.execute(text("INSERT INTO runs (kind, status, started_at, detector_version, config) VALUES ('replay', 'complete', '2026-01-01', :d, '{}')"), {"d": detector_version})
        counts = dict.fromkeys(AGENT_DAY_COLUMNS[2:], 3)
        cols = ", ".join(["day", "agent_id", "run_id", *counts])
        marks = ", ".join([":day", ":agent_id", ":run_id", *[f":{c}" for c in counts]])
        conn.execute(text(f"INSERT INTO agent_days ({cols}) VALUES ({marks})"), {"day": "2026-01-05", "agent_id": HOSTILE, "run_id": 1, **counts})
    engine.dispose()


def test_a_store_made_by_the_previous_version_is_upgraded_with_its_data(store):
    """Schema 1 (insiderwatch 0.1: no migrations table, no first-time-seen counts) is
    brought to the current schema in place, its rows intact."""
    from sqlalchemy import inspect

    from detector.store import SCHEMA_VERSION

    _old_store(store, "0001", version="1", detector_version="v0.1", alembic_table=False)  # as 0.1 built it
    upgraded = Store(_url(store))
    try:
        ad = upgraded.agent_days("2026-01-01", "2026-01-06")
        assert ad.agent_id.tolist() == [HOSTILE] and ad.views.tolist() == [3] and ad.new_customers.isna().all()
        assert upgraded.runs().detector_version.tolist() == ["v0.1"]
        with upgraded.engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM store_meta WHERE key = 'schema_version'")).scalar() == str(SCHEMA_VERSION)
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == f"{SCHEMA_VERSION:04d}"
            assert "touched" in inspect(conn).get_table_names()
        # and it takes the new rows
        run = upgraded.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
        upgraded.write_day(run, _results("2026-01-06", ["A1"]))
        assert len(upgraded.touched("2026-01-06", "2026-01-07")) == 1
    finally:
        upgraded.close()


def test_migrations_build_exactly_the_schema_the_code_reads(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from detector.store import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_a_store_of_an_unknown_schema_version_is_refused_not_changed(tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("UPDATE store_meta SET value = '9' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(UsageError, match="schema version 9"):
        Store(url)


def test_unopenable_store_is_a_clear_error(tmp_path):
    with pytest.raises(InsiderwatchError, match="cannot open the store"):
        Store(f"sqlite:///{tmp_path}/missing-dir/x.db")


def test_creating_a_store_is_all_or_nothing(tmp_path, monkeypatch):
    """A run killed while it creates (or upgrades) a SQLite store leaves it as it was: the
    migration is one transaction, not a commit per table."""
    import sqlite3

    import detector.store.migrations as migrations_module  # where the store looks migrate up

    real = migrations_module.migrate

    def dies_after_the_tables(conn):
        real(conn)
        raise RuntimeError("killed")

    path = tmp_path / "half.db"
    monkeypatch.setattr(migrations_module, "migrate", dies_after_the_tables)
    with pytest.raises(RuntimeError):
        Store(f"sqlite:///{path}")
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    reopened = Store(f"sqlite:///{path}")
    assert reopened.scored_days() == []


def test_a_schema_5_store_is_widened_in_place_and_then_keeps_the_longest_accepted_ids(store):
    """Version 5 had VARCHAR(256) ids (PostgreSQL enforces it): migration 0006 widens them to
    schema.MAX_FIELD_LENGTH with the rows intact, and ids of that length are then stored."""

    _old_store(store, "0005", version="5", detector_version="v5")
    upgraded = Store(_url(store))
    try:
        assert upgraded.agent_days("2026-01-01", "2026-01-06").agent_id.tolist() == [HOSTILE]
        longest = "L" * schema.MAX_FIELD_LENGTH
        run = upgraded.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
        results = _results("2026-01-06", [longest, "A2"])
        results.scores["team"] = "T" * schema.MAX_FIELD_LENGTH
        upgraded.write_day(run, results)
        back = upgraded.scores("2026-01-06", "2026-01-07")
        assert longest in set(back.agent_id) and set(back.team) == {"T" * schema.MAX_FIELD_LENGTH}
        assert longest in set(upgraded.agent_days("2026-01-06", "2026-01-07").agent_id)
    finally:
        upgraded.close()


def test_rejects_keep_nul_and_surrogates_escaped(store):
    run = store.start_run("nightly", config={}, detector_version="v", day_from=None, day_to=None)
    frame = pd.DataFrame({"source": ["f.csv"], "line": [3], "reason": ["expected 6 fields, found 3"], "raw": pd.Series(["a\x00b\ud800c"], dtype=object)})
    store.add_rejects(run, frame)
    assert store.rejects(run).raw.tolist() == ["a\\x00b\\ud800c"]
