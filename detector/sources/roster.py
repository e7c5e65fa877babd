"""The agent roster: who each agent is (vendor, team, site, role, dates, time zone).

A CSV (optionally .gz) read whole, checked strictly (a bad roster is an InputError naming
the file, line and agent) and returned as :data:`~detector.schema.ROSTER_COLUMNS`. Never
reads event logs; never writes.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd

from detector import schema
from detector.errors import InputError
from detector.sources.columns import require_present
from detector.sources.stream import file_sha256


def read_roster(path: str | Path) -> pd.DataFrame:
    """Read the agent roster CSV.

    Parameters
    ----------
    path : str or Path
        A CSV file (optionally .gz) with a header; only ``agent_id`` is required, the other
        :data:`~detector.schema.ROSTER_COLUMNS` are optional, others are ignored.

    Returns
    -------
    DataFrame
        Exactly :data:`~detector.schema.ROSTER_COLUMNS`, one row per agent in file order:
        strings (stripped, empty as missing; ``role`` lower-cased), ``start_date`` and
        ``end_date`` as ``datetime64[ns]`` dates (missing allowed), ``timezone`` a valid
        IANA name or missing.

    Raises
    ------
    InputError
        Missing file, missing ``agent_id`` column, empty or duplicate ``agent_id``, a value
        the store cannot keep (over :data:`~detector.schema.MAX_FIELD_LENGTH` characters, or
        holding NUL: :data:`~detector.schema.INVALID_CHARACTERS`), a date
        that is not YYYY-MM-DD, an end date before the start date, an unknown time zone;
        each names the file and, where there is one, the agent and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("roster file not found", file=str(path))
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            compression="infer",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raw = pd.DataFrame(columns=[schema.AGENT_ID])
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, EOFError) as exc:
        raise InputError(f"cannot read roster: {exc}", file=str(path)) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    require_present(raw.columns, list(raw.columns), path, required=(schema.AGENT_ID,))
    lines = np.arange(2, len(raw) + 2)

    roster = pd.DataFrame(index=raw.index)
    for col in schema.ROSTER_COLUMNS:
        if col in raw.columns:
            values = raw[col].astype(schema.STRING_DTYPE).str.strip()
            values = values.mask(values == "")
        else:
            values = pd.Series(pd.NA, index=raw.index, dtype=schema.STRING_DTYPE)
        roster[col] = values
    roster[schema.ROLE] = roster[schema.ROLE].str.lower()
    # the limits every event value is held to (detector.schema), so the store keeps them all:
    # a roster is configuration, so a bad value refuses it (never truncated, never dropped)
    for col in schema.ROSTER_COLUMNS:
        if col in (schema.START_DATE, schema.END_DATE):
            continue
        for i, value in enumerate(roster[col].to_numpy(dtype=object)):
            problem = schema.value_problem(col, value)
            if problem is not None:
                raise InputError(f"roster value refused: {problem}", file=str(path), line=int(lines[i]), column=col)

    agents = roster[schema.AGENT_ID]
    if agents.isna().any():
        line = int(lines[agents.isna().to_numpy()][0])
        raise InputError("roster row without agent_id", file=str(path), line=line)

    def refuse(mask: np.ndarray, message: str, values: pd.Series | np.ndarray | None = None) -> None:
        """InputError at the first row ``mask`` flags, naming its line and agent; ``message``
        takes ``{agent}`` and ``{value}`` (that row's entry of ``values``)."""
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            value = None if values is None else values[i]
            raise InputError(message.format(agent=agents.iloc[i], value=value), file=str(path), line=int(lines[i]), agent=agents.iloc[i])

    refuse(agents.duplicated().to_numpy(), "agent {agent!r} appears more than once in the roster")
    for col in (schema.START_DATE, schema.END_DATE):
        text = roster[col].to_numpy(dtype=object)
        dates = pd.to_datetime(roster[col], format="%Y-%m-%d", errors="coerce")
        refuse((roster[col].notna() & dates.isna()).to_numpy(), col + " {value!r} of agent {agent!r} is not a date (YYYY-MM-DD)", text)
        refuse((dates >= pd.Timestamp("2262-01-01")).to_numpy(), col + " {value!r} of agent {agent!r} is too far in the future; leave it empty for no end", text)
        roster[col] = dates.astype("datetime64[ns]")
    refuse((roster[schema.END_DATE] < roster[schema.START_DATE]).to_numpy(), "end_date of agent {agent!r} is before its start_date")

    zones = roster[schema.TIMEZONE].to_numpy(dtype=object)
    unknown = np.array([zone is not pd.NA and not _known_zone(zone) for zone in zones], dtype=bool)
    refuse(unknown, "unknown time zone {value!r} for agent {agent!r} (use an IANA name such as 'Europe/Berlin')", zones)
    roster = roster.reset_index(drop=True)
    # where it came from, for run manifests (an auditor re-reads and checks this file)
    roster.attrs["source"] = {"path": str(path.resolve()), "sha256": file_sha256(path), "size_bytes": path.stat().st_size}
    return roster


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
