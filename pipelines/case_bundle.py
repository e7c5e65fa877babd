"""``insiderwatch export case KEY --out DIR``: a case handed to a case-management system.

The bundle is a directory of plain files, each listed with its SHA-256 in ``manifest.json``
and in ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks them):

- ``accesses.csv``: every stored access of the case's days (for a group, its members'),
  in time order, with the agent's local time and UTC offset; customer ids pseudonymised
  with the report's keyed hash unless ``--reveal-customers``; spreadsheet formulas
  neutralised;
- ``case.html``: the case page of the report (timeline, exposure, members, shared
  customers, triage history, suppressions, evidence day by day), standalone;
- ``finding.ocsf.jsonl``: the case as one OCSF Detection Finding, its first day a Create
  and every later day an Update of the same uid, customer ids as in the CSV;
- ``manifest.json``: what the bundle holds and how it was made, and per day whether the
  stored evidence holds every access of that day (it is capped at ``evidence_limit``).

The directory must be new or empty; every file is created exclusively with the configured
file mode, the manifest last: a bundle without its manifest is incomplete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from detector import __version__
from detector import schema as s
from detector.aggregate import DAY
from detector.cases import Case
from detector.config import Config
from detector.errors import UsageError
from detector.store import Store
from detector.store.rows import now
from pipelines.output import csv_safe, json_line, write_new_file

#: the columns of accesses.csv
ACCESS_COLUMNS = [
    "day",
    "kind",
    "alert_key",
    "local_time",
    "timestamp_utc",
    s.AGENT_ID,
    "customer",
    s.ACTION,
    s.RESOURCE,
    s.TICKET_ID,
    s.CUSTOMER_TIER,
    s.SESSION_ID,
    s.SOURCE_IP,
    s.EVENT_ID,
]


@dataclass
class Bundle:
    out: Path
    case: Case
    files: list[dict]
    accesses: int
    complete: bool
    revealed: bool


def _digest(text: str) -> tuple[str, int]:
    data = text.encode("utf-8")
    return hashlib.sha256(data).hexdigest(), len(data)


def _prepare(out: Path) -> None:
    """A new or empty directory to write the bundle into (a usage error otherwise)."""
    if os.path.lexists(out):
        if not out.is_dir() or out.is_symlink():
            raise UsageError(f"cannot write the case bundle to {out}: it is not a directory")
        if any(out.iterdir()):
            raise UsageError(f"not writing the case bundle to {out}: it is not empty (give a new or empty directory)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write the case bundle to {out}: {exc.strerror or exc}") from exc


def _accesses(store: Store, case: Case, pseudo, reveal: bool) -> tuple[str, int, list[dict]]:
    """accesses.csv's text, its rows, and per day what the stored evidence holds against
    every access of the day (from the agent-days)."""
    from pipelines.report import _text, local_time

    agents = [case.subject_id] if case.subject_type == "agent" else list(case.members)
    zones = store.scores_of(agents, first=case.opened)
    zone_of = {(str(d), str(a)): z for d, a, z in zip(zones[DAY], zones[s.AGENT_ID], zones[s.TIMEZONE]) if isinstance(z, str)}
    day_rows, _ = store.agent_days_of(case.agent_days())
    events = day_rows.groupby(DAY)["events"].sum().to_dict() if len(day_rows) else {}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ACCESS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count, days = 0, []
    for r in case.days.to_dict("records"):
        key = r["alert_key"] if isinstance(r["alert_key"], str) else None
        kind = "alerted" if r["alerted"] else "kept" if key else "stood out"
        rows = store.evidence(key) if key else pd.DataFrame(columns=[s.AGENT_ID])
        if case.subject_type != "agent" and len(rows):
            rows = rows[rows[s.AGENT_ID].isin(agents)]
        for e in rows.to_dict("records"):
            agent = _text(e[s.AGENT_ID])
            cells = {
                "day": r[DAY],
                "kind": kind,
                "alert_key": key,
                "local_time": local_time(e[s.TIMESTAMP], zone_of.get((str(r[DAY]), agent))),
                "timestamp_utc": _text(e[s.TIMESTAMP]),
                s.AGENT_ID: agent,
                "customer": _text(e[s.CUSTOMER_ID]) if reveal else pseudo(_text(e[s.CUSTOMER_ID])),
                **{c: _text(e.get(c)) for c in (s.ACTION, s.RESOURCE, s.TICKET_ID, s.CUSTOMER_TIER, s.SESSION_ID, s.SOURCE_IP, s.EVENT_ID)},
            }
            writer.writerow({k: csv_safe(v) for k, v in cells.items()})
            count += 1
        that_day = events.get(str(r[DAY]))
        days.append(
            {
                "day": str(r[DAY]),
                "kind": kind,
                "alert_key": key,
                "accesses_stored": len(rows),
                "accesses_that_day": None if that_day is None else int(that_day),
                "complete": that_day is not None and len(rows) >= int(that_day),
            }
        )
    return buffer.getvalue(), count, days


def _findings(store: Store, cfg: Config, case: Case, pseudo, reveal: bool) -> str:
    """The case's days as OCSF Detection Findings, one a line: Create, then Updates."""
    from pipelines.alert_formats import alert_facts, ocsf_finding

    keys = set(case.alert_keys)
    lines = []
    first, last = str(case.days[DAY].min()), str(case.days[DAY].max())
    for facts in alert_facts(store, cfg, first, last):
        if facts.alert["alert_key"] not in keys:
            continue
        finding = ocsf_finding(facts)
        if not reveal:
            for ev in finding.get("evidences", []):
                for res in ev.get("resources", []):
                    res["uid"] = pseudo(res["uid"])
            for res in finding.get("resources", []):
                res["uid"] = pseudo(res["uid"])
        lines.append(json_line(finding))
    return "".join(lines)


def _page(store: Store, cfg: Config, case: Case, pseudo, reveal: bool) -> str:
    from pipelines.report import Z_WORDS, _case_page, _classification, _environment

    page = _case_page(store, cfg, case, {}, pseudo, reveal)
    context = {
        "version": __version__,
        "first": case.opened,
        "last": case.last_day,
        "classification": _classification(reveal),
        "revealed": reveal,
        "generated": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        "baseline": "",
        "z_words": Z_WORDS,
        "standalone": True,
    }
    return _environment().get_template("case.html").render(**context, **page)


def write_case_bundle(store: Store, cfg: Config, case: Case, out: Path, *, reveal: bool = False) -> Bundle:
    """Write the case's bundle into ``out`` (new or empty)."""
    from pipelines.cases import case_detail, case_evidence, case_exposure
    from pipelines.report import PSEUDONYM_ENV, Pseudonymiser

    _prepare(out)
    key = cfg.report.pseudonym_key or os.environ.get(PSEUDONYM_ENV, "")
    pseudo = Pseudonymiser(key)
    mode = cfg.report.file_mode_bits
    accesses, count, days = _accesses(store, case, pseudo, reveal)
    texts = {
        "accesses.csv": accesses,
        "case.html": _page(store, cfg, case, pseudo, reveal),
        "finding.ocsf.jsonl": _findings(store, cfg, case, pseudo, reveal),
    }
    files = []
    for name, text in texts.items():
        write_new_file(out / name, text, mode=mode)
        digest, size = _digest(text)
        files.append({"name": name, "sha256": digest, "bytes": size})
    detail = case_detail(case, case_exposure(store, case), case_evidence(store, case))
    complete = all(d["complete"] for d in days)
    manifest = {
        "insiderwatch": __version__,
        "created_at": now(),
        "case": detail,
        "customers": "in clear (personal data)"
        if reveal
        else "pseudonymised: 'cust-' and 12 hex digits of HMAC-SHA256 under the report's key" + ("" if key else " (no key configured: a random key, so these pseudonyms match no other report)"),
        "accesses": {"rows": count, "complete": complete, "days": days},
        "files": files,
    }
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files)
    write_new_file(out / "SHA256SUMS", sums, mode=mode)
    write_new_file(out / "manifest.json", json.dumps(manifest, indent=1, allow_nan=False) + "\n", mode=mode)
    return Bundle(out, case, files, count, complete, reveal)
