"""One day aggregated in PostgreSQL (the 1.1M-row sample table, timestamp indexed) beside
DuckDB over the same rows as a csv.gz file, through the same relational expressions."""

import time

import ibis
import pandas as pd

from detector.engines import relational as rel
from detector.engines.query import SqlSource

day = "2026-01-26"
lo, hi = pd.Timestamp(day, tz="UTC"), pd.Timestamp("2026-01-27", tz="UTC")
t0 = time.perf_counter()
src = SqlSource("postgresql+psycopg://postgres@127.0.0.1:5432/test#public.iw_sample")
t = src.checked(None, lo, hi)
acc = rel.account(t, source="pg")
c = rel.count_day(t, day)
print(f"postgresql: {acc.rows_read} rows of the day, {len(c.agent_days)} agent-days, {time.perf_counter() - t0:.2f} s")
src.close()
t0 = time.perf_counter()
con = ibis.duckdb.connect(threads=2)
raw = con.read_csv("/work/main/sample_logs/events.csv.gz", all_varchar=True)
t = rel.checked(rel.canonical(raw, None, engine="duckdb", source="f")).cache()
acc = rel.account(t, source="f")
c2 = rel.count_day(t, day)
print(f"duckdb over the csv.gz: {acc.rows_read} rows read, {len(c2.agent_days)} agent-days, {time.perf_counter() - t0:.2f} s")
pd.testing.assert_frame_equal(c.agent_days, c2.agent_days)
print("same agent-days")
