"""One day aggregated in PostgreSQL (a table of access events, its timestamp typed and
indexed) beside DuckDB over the same rows as a csv.gz file, through the same relational
expressions, as the nightly run does it (the checked rows held by the engine, then counted).

    python notebooks/engines_day_bench.py --file sample_logs/events.csv.gz --table iw_sample --day 2026-01-26 --load
    python notebooks/engines_day_bench.py --file desk1/events.csv.gz --table iw_desk1 --day 2026-02-15 --load

``--load`` (re)creates the table from the file first (COPY, then an index on the timestamp;
not timed). The URL is the machine's test server unless ``--url`` says otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import pandas as pd
import psycopg

from detector.config import EngineSettings
from detector.engines import relational as rel
from detector.engines.query import FileSource, SqlSource

COLUMNS = ["timestamp", "agent_id", "customer_id", "action", "ticket_id", "resource", "customer_tier", "session_id", "source_ip", "event_id"]


def load(url: str, table: str, path: Path) -> int:
    """The file's rows into ``table`` (timestamptz and text columns), indexed on the timestamp."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE TABLE {table} (timestamp timestamptz, " + ", ".join(f"{c} text" for c in COLUMNS[1:]) + ")")
        with gzip.open(path, "rb") as fh, con.cursor().copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        con.execute(f"CREATE INDEX ON {table} (timestamp)")
        con.execute(f"ANALYZE {table}")
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--day", required=True)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--load", action="store_true")
    args = ap.parse_args()
    if args.load:
        t0 = time.perf_counter()
        n = load(args.url, args.table, args.file)
        print(f"loaded {n:,} rows into {args.table} in {time.perf_counter() - t0:.1f} s (not part of the figures)")
    lo = pd.Timestamp(args.day, tz="UTC")
    t0 = time.perf_counter()
    src = SqlSource(f"{args.url}#public.{args.table}")
    table = src.hold(src.checked(None, lo, lo + pd.Timedelta(days=1)))
    acc = rel.account(table, source="pg")
    pg = rel.count_day(table, args.day)
    print(f"postgresql: {acc.rows_read:,} rows of the day selected, checked, held and counted: {len(pg.agent_days):,} agent-days, {time.perf_counter() - t0:.2f} s")
    src.close()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = FileSource([str(args.file)], EngineSettings(name="duckdb"), None, Path(tmp))
        table = files.checked()
        acc = rel.account(table, source="file")
        db = rel.count_day(table, args.day)
        files.close()
    print(f"duckdb over the csv.gz: {acc.rows_read:,} rows read, checked and held, the day counted: {len(db.agent_days):,} agent-days, {time.perf_counter() - t0:.2f} s")
    pd.testing.assert_frame_equal(pg.agent_days, db.agent_days)
    print("same agent-days")


if __name__ == "__main__":
    main()
