"""A day is aggregated and de-duplicated batch by batch: the counts do not depend on how
the day's events are cut into batches or files, equal a plain pandas computation, and the
state held grows with the day's distinct customers, not with its events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detector import schema
from detector.aggregate import _PARTS, COUNTS, MERGE_MIN_ROWS, DayAggregator, Deduplicator, aggregate_days, customer_hashes
from detector.config import Config
from detector.sources import read_roster
from detector.store import Store
from pipelines.run import run_nightly


def busiest_day(events: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    days = events["timestamp"].dt.strftime("%Y-%m-%d")
    day = days.value_counts().idxmax()
    return day, events[days == day].reset_index(drop=True)


def in_batches(day: str, rows: pd.DataFrame, cuts, timezones=None):
    agg = DayAggregator(day, timezones=timezones)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        agg.add(rows.iloc[lo:hi])
    return agg.finish()


def touched_sets(t) -> dict:
    codes = t.agent_codes()
    return {a: sorted(t.hashes[codes == i].tolist()) for i, a in enumerate(t.agents)}


def test_counts_do_not_depend_on_how_the_day_is_cut(sim_events, sim_roster):
    day, rows = busiest_day(sim_events)
    tz = dict(zip(sim_roster.agent_id, sim_roster.timezone))
    whole, whole_touched = in_batches(day, rows, [0, len(rows)], tz)
    rng = np.random.default_rng(5)
    for cuts in ([0, *range(997, len(rows), 997), len(rows)], [0, *sorted(rng.choice(len(rows), 25, replace=False)), len(rows)], [0, 1, 2, len(rows) - 1, len(rows)]):
        got, got_touched = in_batches(day, rows, sorted(set(cuts)), tz)
        pd.testing.assert_frame_equal(got, whole)
        assert touched_sets(got_touched) == touched_sets(whole_touched)
    assert whole["events"].sum() == len(rows)


def reference_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """The counts of one day written the slow, obvious way with pandas."""
    r = rows.copy()
    r["view"] = r["action"] == "view"
    r["has_ticket"] = r["ticket_id"].notna()
    r["tl_view"] = r["view"] & ~r["has_ticket"]
    # a ticket's main customer: most accesses under it that day; ties: the customer seen first that day
    first_pos = r.reset_index().groupby("customer_id")["index"].min()
    under = r[r["has_ticket"]].groupby(["ticket_id", "customer_id"]).size().rename("n").reset_index()
    under["first"] = under["customer_id"].map(first_pos)
    main = under.sort_values(["ticket_id", "n", "first"], ascending=[True, False, True]).drop_duplicates("ticket_id").set_index("ticket_id")["customer_id"]
    r["off_primary"] = r["view"] & r["has_ticket"] & (r["ticket_id"].map(main) != r["customer_id"])
    g = r.groupby("agent_id")
    out = (
        pd.DataFrame(
            {
                "events": g.size(),
                "views": g["view"].sum(),
                "customers": g["customer_id"].nunique(),
                "tickets": g["ticket_id"].nunique(),
                "ticketless_views": g["tl_view"].sum(),
                "ticketless_customers": r[r["tl_view"]].groupby("agent_id")["customer_id"].nunique(),
                "off_primary_views": g["off_primary"].sum(),
                "id_document_views": r[r["view"] & (r["resource"] == "id_document")].groupby("agent_id").size(),
                "exports": r[r["action"].isin(["export", "list", "download", "print"])].groupby("agent_id").size(),
            }
        )
        .fillna(0)
        .astype("int64")
    )
    seq = {}
    for agent, cust in r.groupby("agent_id")["customer_id"]:
        ids = sorted({(m.group(1), int(m.group(2))) for c in set(cust) if (m := __import__("re").match(r"^(.*?)(\d{1,15})$", c))})
        run, count = 1, 0
        for i in range(len(ids)):
            cont = i and ids[i][0] == ids[i - 1][0] and ids[i][1] == ids[i - 1][1] + 1
            run = run + 1 if cont else 1
            if not cont:
                start = i
            end_of_run = i == len(ids) - 1 or not (ids[i + 1][0] == ids[i][0] and ids[i + 1][1] == ids[i][1] + 1)
            if end_of_run and run >= 3:
                count += i - start + 1
        seq[agent] = count
    out["sequential_customers"] = pd.Series(seq)
    return out


def test_counts_equal_a_plain_pandas_computation(sim_events):
    day, rows = busiest_day(sim_events)
    # ties for a ticket's main customer, decided by who was seen first that day
    extra = pd.DataFrame(
        {
            "timestamp": [f"{day}T23:00:0{i}Z" for i in range(4)],
            "agent_id": ["tie-agent"] * 4,
            "customer_id": ["TIE-B", "TIE-A", "TIE-A", "TIE-B"],
            "action": ["view"] * 4,
            "ticket_id": ["TIE-T1", "TIE-T1", "TIE-T2", "TIE-T2"],
            "resource": ["profile"] * 4,
        }
    )
    rows = pd.concat([rows, schema.validate(extra).accepted], ignore_index=True)
    got, _ = in_batches(day, rows, [0, *range(1500, len(rows), 1500), len(rows)])
    got = got.set_index("agent_id")
    want = reference_counts(rows)
    for col in want.columns:
        assert got[col].astype("int64").to_dict() == want[col].to_dict(), col
    assert got.loc["tie-agent", "off_primary_views"] == 2  # TIE-B is T1's main customer and T2's: seen first
    assert set(COUNTS) - set(want.columns) == {"address_views", "financial_views", "high_value_views", "searches", "edits", "outside_shift_events"}


def test_duplicates_across_batches_are_counted_once(sim_events):
    day, rows = busiest_day(sim_events)
    rows = rows.head(3000).copy()
    no_id = rows.head(50).copy()
    no_id["event_id"] = pd.NA
    changed = no_id.head(5).copy()
    changed["resource"] = "address"  # differs in one column: not a duplicate
    same_id_other_content = rows.head(7).copy()
    same_id_other_content["customer_id"] = "C9999999"  # same event id, other content: kept, a conflict
    stream = pd.concat([rows, no_id, rows.iloc[1000:1600], no_id.iloc[10:30], changed, same_id_other_content], ignore_index=True)
    with_id = stream[stream["event_id"].notna()].drop_duplicates()
    without = stream[stream["event_id"].isna()].drop_duplicates()
    want = pd.concat([with_id, without]).sort_index()
    dedup = Deduplicator()
    kept = [stream.iloc[lo : lo + 400][dedup.keep(stream.iloc[lo : lo + 400])] for lo in range(0, len(stream), 400)]
    got = pd.concat(kept)
    assert got.index.tolist() == want.index.tolist()
    assert dedup.dropped == len(stream) - len(want)
    assert dedup.held == len(want)  # one hash per distinct event
    assert dedup.dropped >= 600 + 20  # (the simulator writes a few duplicate rows of its own)
    assert (dedup.conflicting_ids, dedup.conflicting_rows) == (7, 14)


def test_held_state_grows_with_distinct_customers_not_events(sim_events):
    day, rows = busiest_day(sim_events)
    batch = rows.head(20_000)
    agg = DayAggregator(day)
    held = []
    for _ in range(30):  # the same work thirty times over: 600,000 events
        agg.add(batch)
        held.append(agg.held_rows)
    pairs = batch.groupby(["agent_id", "customer_id"]).ngroups
    triples = batch.dropna(subset=["ticket_id"]).groupby(["agent_id", "ticket_id", "customer_id"]).ngroups
    customers = batch["customer_id"].nunique()
    distinct = pairs + triples + customers
    # merged rows, plus at most half as many again, or a fixed few, waiting to be merged
    assert max(held) <= 1.5 * distinct + 3 * _PARTS * MERGE_MIN_ROWS
    out, touched = agg.finish()
    assert agg.held_rows == 0  # handed over to the counts
    assert agg.events == 30 * len(batch)
    one, _ = aggregate_days(batch)
    assert (out["events"].to_numpy() == 30 * one["events"].to_numpy()).all()
    assert (out["customers"].to_numpy() == one["customers"].to_numpy()).all()
    assert sum(touched.counts) == pairs
    assert set(touched.hashes.tolist()) == set(customer_hashes(batch["customer_id"].unique()).tolist())


def test_a_night_split_over_many_files_scores_as_one_file(sim_dir, tmp_path):
    raw = pd.read_csv(sim_dir / "events.csv.gz", dtype=str, keep_default_na=False)
    day = raw["timestamp"].str[:10].value_counts().idxmax()
    raw = raw[raw["timestamp"].str[:10] == day]
    whole = tmp_path / "whole.csv"
    raw.to_csv(whole, index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, lo in enumerate(range(0, len(raw), 1700)):
        chunk = raw.iloc[lo : lo + 1700]
        if i == 2:
            chunk = pd.concat([chunk, raw.iloc[:300]])  # duplicates of another file's rows
        chunk.to_csv(parts / f"part-{i:03d}.csv", index=False)
    roster = read_roster(sim_dir / "roster.csv")
    results = {}
    for name, spec in (("whole", [str(whole)]), ("parts", [str(parts)])):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        summary = run_nightly(Config(), store, spec, day, roster=roster, show_progress=False, first_night=True)
        results[name] = (store.scores(day, day)[["agent_id", "score", "rank", "flagged"]].sort_values("agent_id").reset_index(drop=True), summary)
        store.close()
    pd.testing.assert_frame_equal(results["whole"][0], results["parts"][0])
    assert results["parts"][1].ingest.duplicates == results["whole"][1].ingest.duplicates + 300
    assert results["parts"][1].nights[0].events == results["whole"][1].nights[0].events


def test_stored_hashes_are_pinned(tmp_path):
    """Customer hashes are stored (the touched sets that first-seen counts compare against)
    and event keys and hashed event ids decide de-duplication and `verify`: they must not
    change under a pandas upgrade. These values were computed with pandas 3.1.1; if this
    test fails, stored stores need a migration before the upgrade ships."""
    from detector.aggregate import _hash, customer_hashes, event_keys
    from detector.mapping import _hash_rows
    from detector.sources import load_events

    assert [hex(x) for x in customer_hashes(["C000001", "cust-é", "0035g00000XyZ1aAAB"])] == ["0xb3f8b921850931ed", "0x95e566f3000c8e97", "0xe1ab29e0b3e4574"]
    assert [hex(x) for x in _hash(["T1", "TKT-9"])] == ["0x1bebfc6290481981", "0x115b0e6e5652fab5"]
    path = tmp_path / "e.csv"
    path.write_text("timestamp,agent_id,customer_id,action,ticket_id,resource,event_id\n2026-01-05T09:00:00Z,A1,C1,view,T1,profile,ev-1\n2026-01-05T09:01:00Z,A1,C2,view,,id_document,\n")
    assert [hex(x) for x in event_keys(load_events(path).events)] == ["0xbe6fa076725c8884", "0x52a9d97165944c97"]
    assert _hash_rows([pd.Series(["a", "b"]), pd.Series(["x", None])], 2).tolist() == ["fb8d67ce587665d6", "63c1eba20f5614e8"]
