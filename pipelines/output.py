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
import os
import re
import sys
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import pandas as pd

from detector.errors import UsageError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: every character a terminal could act on or hide: anything but tab and printable ASCII is
#: looked up, and escaped when it is a control (Cc), an invisible or bidi format character
#: (Cf: U+200B, U+200E/F, U+061C, U+FEFF, U+202A-202E, U+2066-2069...), a lone surrogate
#: (Cs), a line or paragraph separator (Zl, Zp) or a space other than the ASCII one (Zs)
_MAYBE_UNSAFE = re.compile(r"[^\t\x20-\x7e]")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})

#: files that hold personal data (reports, exports, rejects) are created with this mode
#: unless ``[report] file_mode`` says otherwise
DEFAULT_FILE_MODE = 0o600


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _visible(match: re.Match) -> str:
    char = match.group()
    return _escaped(char) if unicodedata.category(char) in _UNSAFE_CATEGORIES else char


def terminal_safe(value) -> str:
    """Text as it may reach a terminal: control characters (ANSI escapes...), invisible and
    bidi format characters (U+200B, U+202E...), separators and non-ASCII spaces are shown as
    \\xNN, \\uNNNN or \\UNNNNNNNN, so no escape sequence reaches the terminal and two
    different values never look the same. Line breaks become spaces: one value, one line.
    Data and error messages both go through it."""
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return _MAYBE_UNSAFE.sub(_visible, text.replace("\n", " "))


def csv_safe(value):
    """A CSV cell a spreadsheet will not evaluate: text starting with = + - @ tab or CR gets
    a leading apostrophe. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_table(rows: Iterable[dict], columns: list[str], fmt: str, out: str | None, *, mode: int = DEFAULT_FILE_MODE) -> int:
    """Write rows as csv or jsonl to ``out`` (a path, created with ``mode``; or stdout for
    None or '-'). On a terminal, control characters in text cells are shown escaped, never
    sent raw."""
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
        replace_file(Path(str(out)), file_buffer.getvalue(), mode=mode)
    return count


def json_line(document) -> str:
    """One JSON Lines line: valid JSON for any content, readable UTF-8, and with every
    control, line-separator and bidi character written as a \\uXXXX escape (the same JSON
    value), so a line shown on a terminal or split on line breaks stays one safe line."""
    text = json.dumps(document, ensure_ascii=False, default=str)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def write_json_lines(documents: Iterable[dict], out: str | None, *, mode: int = DEFAULT_FILE_MODE) -> int:
    """Write one JSON document per line to ``out`` (a path, created with ``mode`` under a
    temporary name and renamed; or stdout for None or '-', line by line, so it composes in
    pipes)."""
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
    replace_file(Path(out), buffer.getvalue(), mode=mode)
    return count


def write_new_file(path: Path, text: str, *, mode: int = DEFAULT_FILE_MODE) -> None:
    """Create ``path`` (which must not exist: never through a planted file or symlink) with
    ``mode`` and write ``text`` to it. OSError when it cannot."""
    _write_fd(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode), text, mode)


def _write_fd(fd: int, text: str, mode: int) -> None:
    """Write ``text`` to the new file open as ``fd`` with exactly ``mode`` (whatever the
    umask), and close it."""
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd >= 0:
            os.close(fd)


def replace_file(path: Path, text: str, *, mode: int = DEFAULT_FILE_MODE) -> None:
    """Write ``text`` to ``path`` with ``mode``: under a temporary name of its own in the same
    directory, created exclusively (a file or symlink planted at any name is never written
    through), then renamed over ``path`` (a symlink at ``path`` is replaced, not followed). A
    failed write never leaves a partial file that looks complete, nor its temporary file."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".partial", dir=path.parent)
        _write_fd(fd, text, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}; nothing was written there") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


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


#: characters of an alert or case key shown wherever a person reads one (the whole key is
#: in the exports; `triage` and `case` take any 6 or more of its first characters)
KEY_SHOWN = 12


def shown_key(key) -> str:
    """An alert or case key as every listing shows it: its first :data:`KEY_SHOWN` characters."""
    return str(key or "")[:KEY_SHOWN]


#: what a group alert's score is, where groups are listed apart from agents
GROUP_SCALE = "team and site alerts; their score is on another scale: robust deviations of the group's excess above the other groups"


def format_alerts(alerts: pd.DataFrame, *, reasons: int = 2, width: int = 100) -> str:
    """A short plain-text table of alerts with their top reasons, for the terminal: the
    agents' alerts, then the groups' apart (:data:`GROUP_SCALE`)."""
    if alerts is None or alerts.empty:
        return "no alerts"
    groups = alerts["subject_type"] != "agent"
    if groups.any() and not groups.all():
        return _alert_table(alerts[~groups], reasons) + f"\n\n{GROUP_SCALE}:\n" + _alert_table(alerts[groups], reasons)
    return (f"{GROUP_SCALE}:\n" if groups.all() else "") + _alert_table(alerts, reasons)


def _alert_table(alerts: pd.DataFrame, reasons: int) -> str:
    keyed = "alert_key" in alerts
    told = "status" in alerts  # the triage status of the alert's case
    lines = [f"{'day':<10}  {'rank':>4}  {'subject':<24}  {'score':>5}  " + (f"{'alert':<{KEY_SHOWN}}  " if keyed else "") + (f"{'status':<10}  " if told else "") + "reasons"]
    for a in alerts.to_dict("records"):
        subject = a["subject_id"] if a["subject_type"] == "agent" else f"{a['subject_type']} {a['subject_id']}"
        rank = "" if a.get("rank") is None or (isinstance(a.get("rank"), float) and math.isnan(a["rank"])) else int(a["rank"])
        key = f"{shown_key(a.get('alert_key')):<{KEY_SHOWN}}  " if keyed else ""  # what `insiderwatch triage` takes
        status = f"{str(a.get('status') or ''):<10}  " if told else ""
        head = f"{a['day']:<10}  {rank!s:>4}  {_cell(subject, 24)}  {a['score']:>5.2f}  {key}{status}"
        texts = list(a["reasons"])[:reasons] or [""]
        lines.append(head + terminal_safe(texts[0]))
        for t in texts[1:]:
            lines.append(" " * len(head) + terminal_safe(t))
        if a.get("members"):
            lines.append(" " * len(head) + "members: " + ", ".join(terminal_safe(m) for m in a["members"]))
    return "\n".join(lines)


def format_ongoing(ongoing: pd.DataFrame, *, reasons: int = 1) -> str:
    """The agents whose case is open who stood out again on the night, kept on their case
    with reasons and evidence, not raised (``ongoing``: alert rows with ``case``, the key of
    their case); '' when there are none."""
    if ongoing is None or ongoing.empty:
        return ""
    lines = [
        f"{len(ongoing)} agent(s) with an open case stood out again: kept on the case with their reasons and evidence, "
        "not raised (the night's budget goes to new subjects; see: insiderwatch case CASE)",
        f"{'day':<10}  {'rank':>4}  {'subject':<24}  {'score':>5}  {'case':<{KEY_SHOWN}}  reasons",
    ]
    for a in ongoing.sort_values(["day", "rank"], kind="stable").to_dict("records"):
        rank = "" if a.get("rank") is None or pd.isna(a["rank"]) else int(a["rank"])
        head = f"{a['day']:<10}  {rank!s:>4}  {_cell(a['subject_id'], 24)}  {a['score']:>5.2f}  {shown_key(a.get('case')):<{KEY_SHOWN}}  "
        texts = list(a["reasons"])[:reasons] or [""]
        lines.append(head + terminal_safe(texts[0]))
        lines.extend(" " * len(head) + terminal_safe(x) for x in texts[1:])
    return "\n".join(lines)


def format_alert_summary(alerts: pd.DataFrame, *, limit: int = 20) -> str:
    """Who was flagged over a period, most anomalous first: subject, first and last day,
    days flagged, the best day, its score and its first reason (all three of one day)."""
    if alerts is None or alerts.empty:
        return "no alerts"
    rows = []
    for (kind, subject), group in alerts.groupby(["subject_type", "subject_id"], sort=False):
        group = group.sort_values("day")
        best = group.loc[group["score"].astype(float).idxmax()]
        label = subject if kind == "agent" else f"{kind} {subject}"
        rows.append((group["day"].iloc[0], group["day"].iloc[-1], len(group), float(best["score"]), label, list(best["reasons"])[:1], best["day"], kind != "agent"))
    rows.sort(key=lambda r: (r[7], -r[3], r[0], r[4]))  # agents, then groups: their scores are on another scale
    lines = [f"{'first day':<10}  {'last day':<10}  {'days':>4}  {'subject':<24}  {'best day':<10}  {'score':>5}  its first reason"]
    for first, last, n, score, label, reason, best_day, _ in rows[:limit]:
        lines.append(f"{first:<10}  {last:<10}  {n:>4}  {_cell(label, 24)}  {best_day:<10}  {score:>5.2f}  {terminal_safe(reason[0]) if reason else ''}")
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
        "ongoing": e.ongoing,
        "member_of": [{"subject_type": k, "subject_id": g, "alert_key": key} for k, g, key in e.member_of],
        "features": e.features.astype(object).where(e.features.notna(), None).to_dict("records"),
        "reasons": e.reasons,
        "accumulated": e.accumulated,
        "peers": e.peers,
    }
