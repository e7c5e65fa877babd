"""Accepted events set aside per UTC day while a run reads its inputs, so that memory holds
one input batch whatever the size of a day or the number of days.

Parts are Arrow IPC files (LZ4) in a temporary directory the run owns: written and read back
at memory speed, never archived (the logs stay in their files, referenced by digest).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from detector import schema as s


class DayEvents:
    """One UTC day's events as the run read them, in read order: the Arrow IPC parts
    spilled while reading, so the day never has to be held in memory whole.

    Read once to aggregate, and again only for the flagged agents' evidence.
    """

    def __init__(self, day: str, parts: list[Path]) -> None:
        self.day = day
        self.parts = list(parts)

    def batches(self) -> Iterator[pd.DataFrame]:
        for path in self.parts:
            yield feather.read_table(path).to_pandas()


class Spill:
    """Accepted events written aside per UTC day, in the order they were read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.parts: dict[str, list[Path]] = {}

    def write(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        day_num = rows[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        days = np.unique(day_num)
        for d in days:
            group = rows if len(days) == 1 else rows[day_num == d]
            day = str(d)
            path = self.directory / f"{day}-{len(self.parts.get(day, [])):05d}.arrow"
            feather.write_feather(pa.Table.from_pandas(group, preserve_index=False), path, compression="lz4")
            self.parts.setdefault(day, []).append(path)

    def days(self) -> list[str]:
        """The days that received events, in order."""
        return sorted(self.parts)

    def day(self, day: str) -> DayEvents:
        return DayEvents(day, self.parts.get(day, []))
