"""Spark at growing day sizes (issue 15): a nightly run with ``--engine spark`` (local mode)
over one day written as partitioned Parquet, ``scale`` times the speed benchmark's day.

    python notebooks/spark_scale_bench.py --day 2026-03-04.parquet --roster roster.csv --scale 3 --work /tmp/spark-scale

Copy k of the day moves each access by up to half an hour (inside the day), and from the
second copy on renames the customers and tickets (``K<k>`` prepended), so that distinct
customers, pairs and tickets grow with the rows. Each copy is one Parquet file of the day's
directory (microsecond timestamps). Prints the wall time of the nightly run and the peak
RSS of the insiderwatch process itself (polled; Spark's JVM is a child with its own limit,
``[engine] spark_memory``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAY = "2026-03-04"


def write_day(day_parquet: Path, out: Path, scale: int, seed: int = 1) -> int:
    out.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(day_parquet)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DAY, tz="UTC")
    end = start + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    written = 0
    for k in range(scale):
        frame = table.to_pandas()
        shift = pd.to_timedelta(rng.integers(-1800, 1800, size=len(frame)), unit="s")
        frame["timestamp"] = (frame["timestamp"] + shift).clip(start, end).astype("datetime64[us, UTC]")
        frame["event_id"] = f"K{k}-" + frame["event_id"].astype(str)
        if k:
            frame["customer_id"] = f"K{k}" + frame["customer_id"].astype(str)
            frame["ticket_id"] = (f"K{k}" + frame["ticket_id"].astype(str)).where(frame["ticket_id"].notna())
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out / f"part-{k:04d}.parquet", compression="zstd")
        written += len(frame)
    return written


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--day", type=Path, required=True, help="the speed benchmark's day as Parquet")
    ap.add_argument("--roster", type=Path, required=True)
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    lake = args.work / f"day-x{args.scale}"
    events = write_day(args.day, lake, args.scale) if not lake.exists() else sum(pq.ParquetFile(p).metadata.num_rows for p in lake.glob("*.parquet"))
    db = args.work / f"spark-x{args.scale}.db"
    db.unlink(missing_ok=True)
    cmd = ["insiderwatch", "-q", "--db", f"sqlite:///{db}", "nightly", "--first-night", "--engine", "spark", "--events", str(lake), "--roster", str(args.roster), "--date", DAY]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, peak_rss_mb(proc.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    err = proc.stderr.read() if proc.stderr else ""
    line = next((x for x in err.splitlines() if "rows read" in x), err[-500:])
    print(f"scale {args.scale}: {events:,} events, nightly --engine spark {seconds:.1f} s, insiderwatch peak RSS {peak:,.0f} MB (exit {proc.returncode})\n  {line}")
    sys.exit(0 if proc.returncode in (0, 3) else 1)


if __name__ == "__main__":
    main()
