"""Writing results for people and for other tools, safely.

Log fields are attacker-controlled: text for a terminal has control characters made
visible (no escape sequences reach the terminal), CSV cells that a spreadsheet would run as
a formula are neutralised, JSON is JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import pandas as pd

from detector.errors import UsageError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(value) -> str:
    """Text with control characters (ANSI escapes, bidi overrides...) shown as \\xNN."""
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text.replace("\n", " "))


def csv_safe(value):
    """A CSV cell a spreadsheet will not evaluate: text starting with = + - @ tab or CR gets
    a leading apostrophe. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_table(rows: Iterable[dict], columns: list[str], fmt: str, out: str | None) -> int:
    """Write rows as csv or jsonl to ``out`` (a path, or stdout for None or '-'). On a
    terminal, control characters in text cells are shown escaped, never sent raw."""
    to_file = out is not None and out != "-"
    to_terminal = not to_file and sys.stdout.isatty()
    count = 0
    file_buffer = io.StringIO()
    buffer: TextIO = file_buffer if to_file else sys.stdout
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            cells = {k: csv_safe(_plain(row.get(k))) for k in columns}
            if to_terminal:
                cells = {k: terminal_safe(v) if isinstance(v, str) else v for k, v in cells.items()}
            writer.writerow(cells)
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            buffer.write(json_line({k: _plain(row.get(k)) for k in columns}))
            count += 1
    else:
        raise ValueError(fmt)
    if to_file:
        _replace_file(Path(str(out)), file_buffer.getvalue())
    return count


def json_line(document) -> str:
    """One JSON Lines line: valid JSON for any content, readable UTF-8, and with every
    control, line-separator and bidi character written as a \\uXXXX escape (the same JSON
    value), so a line shown on a terminal or split on line breaks stays one safe line."""
    text = json.dumps(document, ensure_ascii=False, default=str)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def write_json_lines(documents: Iterable[dict], out: str | None) -> int:
    """Write one JSON document per line to ``out`` (a path, written under a temporary name
    and renamed; or stdout for None or '-', line by line, so it composes in pipes)."""
    count = 0
    if out in (None, "-"):
        for doc in documents:
            sys.stdout.write(json_line(doc))
            count += 1
        sys.stdout.flush()
        return count
    buffer = io.StringIO()
    for doc in documents:
        buffer.write(json_line(doc))
        count += 1
    _replace_file(Path(out), buffer.getvalue())
    return count


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` under a temporary name, then rename: a failed write never
    leaves a partial file that looks complete."""
    tmp = path.with_name(path.name + ".partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}; nothing was written there") from exc


def _plain(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    if value is pd.NA:
        return None
    return value


def _cell(value, width: int) -> str:
    """A fixed-width table cell; a longer value is cut with an ellipsis, never silently."""
    text = terminal_safe(value)
    return (text if len(text) <= width else text[: width - 1] + "\u2026").ljust(width)


def format_alerts(alerts: pd.DataFrame, *, reasons: int = 2, width: int = 100) -> str:
    """A short plain-text table of alerts with their top reasons, for the terminal."""
    if alerts is None or alerts.empty:
        return "no alerts"
    keyed = "alert_key" in alerts
    lines = [f"{'day':<10}  {'rank':>4}  {'subject':<24}  {'score':>5}  " + (f"{'alert':<8}  " if keyed else "") + "reasons"]
    for a in alerts.to_dict("records"):
        subject = a["subject_id"] if a["subject_type"] == "agent" else f"{a['subject_type']} {a['subject_id']}"
        rank = "" if a.get("rank") is None or (isinstance(a.get("rank"), float) and math.isnan(a["rank"])) else int(a["rank"])
        key = f"{str(a.get('alert_key') or '')[:8]:<8}  " if keyed else ""  # what `insiderwatch triage` takes
        head = f"{a['day']:<10}  {rank!s:>4}  {_cell(subject, 24)}  {a['score']:>5.2f}  {key}"
        texts = list(a["reasons"])[:reasons] or [""]
        lines.append(head + terminal_safe(texts[0]))
        for t in texts[1:]:
            lines.append(" " * len(head) + terminal_safe(t))
        if a.get("members"):
            lines.append(" " * len(head) + "members: " + ", ".join(terminal_safe(m) for m in a["members"]))
    return "\n".join(lines)


def format_alert_summary(alerts: pd.DataFrame, *, limit: int = 20) -> str:
    """Who was flagged over a period, most anomalous first: subject, first and last day,
    days flagged, best score and the first reason of the first alert."""
    if alerts is None or alerts.empty:
        return "no alerts"
    rows = []
    for (kind, subject), group in alerts.groupby(["subject_type", "subject_id"], sort=False):
        group = group.sort_values("day")
        first = group.iloc[0]
        label = subject if kind == "agent" else f"{kind} {subject}"
        rows.append((first["day"], group["day"].iloc[-1], len(group), float(group["score"].max()), label, list(first["reasons"])[:1]))
    rows.sort(key=lambda r: (-r[3], r[0], r[4]))
    lines = [f"{'first day':<10}  {'last day':<10}  {'days':>4}  {'subject':<24}  {'best':>5}  first reason"]
    for first, last, n, best, label, reason in rows[:limit]:
        lines.append(f"{first:<10}  {last:<10}  {n:>4}  {_cell(label, 24)}  {best:>5.2f}  {terminal_safe(reason[0]) if reason else ''}")
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more subjects (insiderwatch alerts --from DAY --to DAY lists every alert)")
    return "\n".join(lines)


def explanation_document(e) -> dict:
    """An :class:`~pipelines.explain.Explanation` as JSON-ready data (``explain --json``)."""
    return {
        "agent_id": e.agent_id,
        "day": e.day,
        "score": {k: v for k, v in e.score.items() if k != "contributions"},
        "alerted": e.alerted,
        "suppressed_by": e.suppressed_by,
        "features": e.features.astype(object).where(e.features.notna(), None).to_dict("records"),
        "reasons": e.reasons,
    }
