"""Audit: prove a run's results (``insiderwatch verify``) and compare two runs
(``insiderwatch diff``).

verify recomputes a run from what its manifest recorded (the input files, checked against
their SHA-256; the roster; the effective settings; the stored history days it read, which
must still hold the same runs' results) in a scratch store, and compares every score, rank,
flag and alert with what the store holds for that run.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from detector import __version__
from detector import schema as s
from detector.aggregate import DAY
from detector.config import Config, from_dict
from detector.errors import InputError, UsageError
from detector.sources import file_sha256
from detector.store import Store

log = logging.getLogger("insiderwatch")

EXIT_DIFFERENT = 4
#: scores equal to this many decimals count as identical (they are stored as floats)
SCORE_DECIMALS = 9


@dataclass
class Verification:
    run_id: int
    kind: str
    days: list[str]
    rows: int = 0
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def config_from_record(record: dict) -> Config:
    """The Config a run recorded (``Config.to_dict()``), as a Config again."""
    data = {k: dict(record[k]) for k in ("sources", "features", "model", "alerts", "engine") if k in record}
    if "report" in record:
        data["report"] = {k: v for k, v in record["report"].items() if k != "pseudonym_key"}
    if "evidence_limit" in record:
        data["evidence_limit"] = record["evidence_limit"]
    return from_dict(data, origin="the run's recorded settings")


class RecordedFiles:
    """Finds the files a run recorded (path, SHA-256, size): at the recorded path while it
    still holds those bytes, else, when an archive was given (``--inputs``), the archive's
    file with the same digest, whatever its name now. Only archive files of a recorded size
    are hashed, each at most once."""

    def __init__(self, archive: list[str] | None = None) -> None:
        from detector.sources import resolve_inputs

        self.archive = resolve_inputs(archive, any_name=True) if archive else []
        self._digests: dict[Path, str] = {}

    def _in_archive(self, entry: dict) -> Path | None:
        size = entry.get("size_bytes")
        for path in self.archive:
            if size is not None and path.stat().st_size != size:
                continue
            if path not in self._digests:
                self._digests[path] = file_sha256(path)
            if self._digests[path] == entry["sha256"]:
                return path
        return None

    def find(self, entry: dict, what: str) -> Path:
        """The file holding ``entry``'s bytes; InputError (exit 2) naming it when none does."""
        path = Path(entry["path"])
        here = path.is_file() and file_sha256(path) == entry["sha256"]
        if here:
            return path
        found = self._in_archive(entry) if self.archive else None
        if found is not None:
            log.info("%s %s found by its SHA-256 at %s", what, path, found)
            return found
        where = (
            f"; none of the {len(self.archive)} file(s) under --inputs has its SHA-256 {entry['sha256'][:16]}..."
            if self.archive
            else "; if the logs have moved (cold storage), give --inputs DIR|GLOB and verify finds them by their SHA-256"
        )
        if not path.is_file():
            raise InputError(f"{what} recorded by the run is missing{where}", file=str(path))
        raise InputError(f"{what} has changed since the run (SHA-256 differs from the recorded {entry['sha256'][:16]}...){where}", file=str(path))


def verify_run(store: Store, run_id: int, *, show_progress: bool = False, archive: list[str] | None = None) -> Verification:
    """Recompute ``run_id`` and compare. Raises InputError (exit 2) when a recorded input is
    missing or changed (and, with ``archive``, is not among those files either), UsageError
    when the run cannot be verified."""
    from detector.sources import read_roster
    from pipelines.run import library_versions, run_nightly, run_replay

    run = store.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in the store (see: insiderwatch runs)")
    if run["kind"] not in ("nightly", "rescore", "replay") or run["status"] != "complete":
        raise UsageError(f"run {run_id} is a {run['status']} {run['kind']} run: only complete nightly, rescore and replay runs can be verified")
    manifest = json.loads(run["manifest"] or "{}")
    cfg = config_from_record(json.loads(run["config"]))
    files = RecordedFiles(archive)
    source = manifest.get("source")
    if source:
        # a query engine's source, read again: its files are checked where the run could
        # digest them; a table (or a lake directory) cannot be: said in the notes
        inputs = [files.find(f, "input file") for f in manifest.get("inputs", []) if f.get("sha256")]
    else:
        inputs = [files.find(f, "input file") for f in manifest.get("inputs", [])]
    roster = read_roster(files.find(manifest["roster"], "roster")) if manifest.get("roster") else None
    result = Verification(run_id, run["kind"], manifest.get("days", []))
    recorded = manifest.get("versions", {})
    now = library_versions()
    changed = [f"{k} {recorded[k]} -> {v}" for k, v in now.items() if k in recorded and recorded[k] != v]
    if manifest.get("insiderwatch") and manifest["insiderwatch"] != __version__:
        changed.insert(0, f"insiderwatch {manifest['insiderwatch']} -> {__version__}")
    if changed:
        result.notes.append("recomputed with other versions than the run used (" + ", ".join(changed) + "): differences may come from that")
    if source and any(not f.get("sha256") for f in manifest.get("inputs", [])):
        result.notes.append(
            f"read again from {', '.join(map(str, source))} by the {cfg.engine.name} engine: a table or a lake directory has no digest, so rows changed there since the run show as differences"
        )

    if manifest.get("digests"):
        # rows changed in the store since the run wrote them, named before any recomputing
        from pipelines.digests import changed_rows, run_digests

        result.differences += changed_rows(manifest["digests"], run_digests(store, run_id))

    history = [tuple(h) for h in manifest.get("history", [])]
    if history:
        now_runs = dict(store.day_runs(min(d for d, _ in history), max(d for d, _ in history) + "~"))
        moved = [(d, r, now_runs.get(d)) for d, r in history if now_runs.get(d) != r]
        for d, was, is_now in moved:
            result.differences.append(f"history {d}: the run read the results of run {was}; the store now holds " + (f"run {is_now}'s" if is_now else "none"))
        if moved:
            return result

    work = Path(tempfile.mkdtemp(prefix="insiderwatch-verify-"))
    try:
        scratch = Store(f"sqlite:///{work / 'verify.db'}")
        store.copy_days(scratch, [d for d, _ in history])
        if result.days:
            store.copy_cases(scratch, min(result.days), [d for d, _ in history])
        spec = list(source) if source else [str(p) for p in inputs]
        # the suppressions the run could apply: its mode, and none created after it started
        mode, known_by = manifest.get("suppressions", "as-of"), run["started_at"]
        # the run passed the checks of its night when it ran: its inputs are what it was given
        if run["kind"] != "replay":
            summary = run_nightly(cfg, scratch, spec, run["day_from"], roster=roster, show_progress=show_progress, known_by=known_by, kind=run["kind"], first_night=True, no_roster=True)
        else:
            summary = run_replay(cfg, scratch, spec, run["day_from"], run["day_to"], roster=roster, show_progress=show_progress, suppressions=mode, known_by=known_by, no_roster=True)
        again_scores = scratch.scores(run_id=summary.run_id)
        again_alerts = scratch.alerts(run_id=summary.run_id)
        scratch.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    held = {d for d, r in store.day_runs(run["day_from"], run["day_to"] + "~") if r == run_id}
    replaced = sorted(set(result.days) - held)
    if replaced:
        result.notes.append(
            f"{len(replaced)} of the run's days were scored again by later runs ({replaced[0]}"
            f"{' to ' + replaced[-1] if len(replaced) > 1 else ''}): this run's results for them are compared from the archive"
        )
    stored_scores, stored_alerts = store.run_results(run_id)
    result.rows = len(stored_scores)
    result.differences += _compare_scores(stored_scores, again_scores) + _compare_alerts(stored_alerts, again_alerts)
    return result


def _compare_scores(stored: pd.DataFrame, again: pd.DataFrame) -> list[str]:
    key = [DAY, s.AGENT_ID]
    merged = stored.merge(again, on=key, how="outer", suffixes=("_stored", "_again"), indicator=True)
    out = []
    for r in merged.sort_values(key).to_dict("records"):
        who = f"{r[DAY]} {r[s.AGENT_ID]!r}"
        if r["_merge"] == "left_only":
            out.append(f"score {who}: stored, not recomputed")
            continue
        if r["_merge"] == "right_only":
            out.append(f"score {who}: recomputed, not stored")
            continue
        parts = []
        if round(float(r["score_stored"]), SCORE_DECIMALS) != round(float(r["score_again"]), SCORE_DECIMALS):
            parts.append(f"score {r['score_stored']:.6f} stored, {r['score_again']:.6f} recomputed")
        if round(float(r["raw_score_stored"]), SCORE_DECIMALS) != round(float(r["raw_score_again"]), SCORE_DECIMALS):
            parts.append(f"raw score {r['raw_score_stored']:.6f} stored, {r['raw_score_again']:.6f} recomputed")
        if int(r["rank_stored"]) != int(r["rank_again"]):
            parts.append(f"rank {int(r['rank_stored'])} stored, {int(r['rank_again'])} recomputed")
        if bool(r["flagged_stored"]) != bool(r["flagged_again"]):
            parts.append(f"flagged {bool(r['flagged_stored'])} stored, {bool(r['flagged_again'])} recomputed")
        if parts:
            out.append(f"score {who}: " + "; ".join(parts))
    return out


def _compare_alerts(stored: pd.DataFrame, again: pd.DataFrame) -> list[str]:
    a = {r["alert_key"]: r for r in stored.to_dict("records")}
    b = {r["alert_key"]: r for r in again.to_dict("records")}
    out = []
    for k in sorted(set(a) | set(b)):
        r = a[k] if k in a else b[k]
        who = f"{r[DAY]} {r['subject_type']} {r['subject_id']!r}"
        if k not in b:
            out.append(f"alert {who}: stored, not recomputed")
        elif k not in a:
            out.append(f"alert {who}: recomputed, not stored")
        else:
            parts = [name for name, same in _alert_fields_equal(a[k], b[k]).items() if not same]
            if parts:
                out.append(f"alert {who}: {', '.join(parts)} differ")
    return out


def _alert_fields_equal(x: dict, y: dict) -> dict[str, bool]:
    """Per compared field of two stored alert rows: equal or not (score to SCORE_DECIMALS;
    a missing rank, members or suppression as None)."""

    def opt(v: object) -> object:
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else v

    def num(v: object) -> float | None:
        v = opt(v)
        return None if v is None else round(float(v), SCORE_DECIMALS)  # type: ignore[arg-type]

    return {
        "reasons": list(x["reasons"]) == list(y["reasons"]),
        "score": num(x["score"]) == num(y["score"]),
        "rank": num(x.get("rank")) == num(y.get("rank")),
        "members": list(opt(x.get("members")) or []) == list(opt(y.get("members")) or []),  # type: ignore[call-overload]
        "suppressed_by": num(x.get("suppressed_by")) == num(y.get("suppressed_by")),
    }


def format_verification(v: Verification, limit: int = 50) -> str:
    lines = [f"run {v.run_id} ({v.kind}, {len(v.days)} day(s), {v.rows:,} scores): " + ("IDENTICAL when recomputed" if v.identical else f"{len(v.differences):,} DIFFERENCE(S)")]
    lines += [f"note: {n}" for n in v.notes]
    lines += [f"  {d}" for d in v.differences[:limit]]
    if len(v.differences) > limit:
        lines.append(f"  ... and {len(v.differences) - limit:,} more")
    return "\n".join(lines)


# --- diff --------------------------------------------------------------------------------
def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def diff_runs(store: Store, run_a: int, run_b: int) -> dict:
    """What changed from run A to run B: settings, inputs, and alerts (appeared, gone,
    moved in rank or score) on the days both runs scored."""
    runs = {}
    for r in (run_a, run_b):
        run = store.run(r)
        if run is None:
            raise UsageError(f"no run {r} in the store (see: insiderwatch runs)")
        runs[r] = run
    ca, cb = (_flatten(json.loads(runs[r]["config"])) for r in (run_a, run_b))
    settings = [{"setting": k, "a": ca.get(k), "b": cb.get(k)} for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k) and k != "db"]
    ma, mb = (json.loads(runs[r]["manifest"] or "{}") for r in (run_a, run_b))
    fa = {f["path"]: f["sha256"] for f in ma.get("inputs", [])}
    fb = {f["path"]: f["sha256"] for f in mb.get("inputs", [])}
    inputs = [{"file": p, "a": fa.get(p), "b": fb.get(p)} for p in sorted(set(fa) | set(fb)) if fa.get(p) != fb.get(p)]
    if runs[run_a]["detector_version"] != runs[run_b]["detector_version"]:
        settings.insert(0, {"setting": "detector_version", "a": runs[run_a]["detector_version"], "b": runs[run_b]["detector_version"]})
    (sc_a, al_a), (sc_b, al_b) = store.run_results(run_a), store.run_results(run_b)
    # the days kept on open cases are not alerts: compared as the agents' scores below
    al_a = al_a[~al_a["ongoing"].astype(bool)] if len(al_a) else al_a
    al_b = al_b[~al_b["ongoing"].astype(bool)] if len(al_b) else al_b
    scored = [{(d, str(g)): (float(x), int(r)) for d, g, x, r in zip(sc[DAY], sc[s.AGENT_ID], sc["score"], sc["rank"])} if len(sc) else {} for sc in (sc_a, sc_b)]
    days_a = set(ma.get("days", [])) or set(al_a[DAY])
    days_b = set(mb.get("days", [])) or set(al_b[DAY])
    both = days_a & days_b
    key = lambda r: (r[DAY], r["subject_type"], r["subject_id"])  # noqa: E731
    a = {key(r): r for r in al_a.to_dict("records") if r[DAY] in both}
    b = {key(r): r for r in al_b.to_dict("records") if r[DAY] in both}

    def rank(r: dict | None) -> int | None:  # group alerts have none (NaN in the frame)
        return None if r is None or r["rank"] is None or pd.isna(r["rank"]) else int(r["rank"])

    def score(r: dict | None) -> float | None:
        return None if r is None or pd.isna(r["score"]) else float(r["score"])

    def score3(r: dict | None) -> float | None:
        v = score(r)
        return None if v is None else round(v, 3)

    def suppressed(r: dict | None) -> int | None:  # stored, not raised
        v = None if r is None else r.get("suppressed_by")
        return None if v is None or pd.isna(v) else int(v)

    def side(r: dict | None, k: tuple, i: int) -> tuple[float | None, int | None]:
        """The alert's score and rank, or (an agent the run did not alert) its stored score and rank that day."""
        if r is not None or k[1] != "agent":
            return score(r), rank(r)
        return scored[i].get((k[0], k[2]), (None, None))

    alerts = []
    for k in sorted(set(a) | set(b)):
        ra, rb = a.get(k), b.get(k)
        (sa, na), (sb, nb) = side(ra, k, 0), side(rb, k, 1)
        row = {
            "day": k[0],
            "subject": f"{k[1]} {k[2]}",
            "a": sa,
            "b": sb,
            "rank_a": na,
            "rank_b": nb,
            "alerted_a": ra is not None,
            "alerted_b": rb is not None,
            "suppressed_a": suppressed(ra),
            "suppressed_b": suppressed(rb),
        }
        if rb is None:
            alerts.append({"change": "gone", **row})
        elif ra is None:
            alerts.append({"change": "new", **row})
        elif rank(ra) != rank(rb) or score3(ra) != score3(rb) or suppressed(ra) != suppressed(rb):
            alerts.append({"change": "moved", **row})
    return {"run_a": run_a, "run_b": run_b, "days_compared": sorted(both), "settings": settings, "inputs": inputs, "alerts": alerts}


def format_diff(d: dict) -> str:
    from pipelines.output import terminal_safe

    lines = [f"run {d['run_a']} -> run {d['run_b']}: {len(d['days_compared'])} day(s) scored by both"]
    lines.append("settings that differ:" if d["settings"] else "settings: the same")
    lines += [f"  {x['setting']}: {x['a']!r} -> {x['b']!r}" for x in d["settings"]]
    lines.append("inputs that differ:" if d["inputs"] else "inputs: the same files, the same digests")
    lines += [f"  {terminal_safe(x['file'])}: {(x['a'] or 'absent')[:12]} -> {(x['b'] or 'absent')[:12]}" for x in d["inputs"]]
    counts = {c: sum(1 for x in d["alerts"] if x["change"] == c) for c in ("new", "gone", "moved")}
    lines.append(f"alerts: {counts['new']} new, {counts['gone']} gone, {counts['moved']} moved")

    def num(v, fmt):
        return "-" if v is None or pd.isna(v) else format(v, fmt)

    def held(v, alerted=True, value=None):
        if v is not None:
            return f" (suppressed by {v})"
        return " (not alerted)" if not alerted and value is not None else ""

    for x in d["alerts"]:
        lines.append(
            f"  {x['change']:<5} {x['day']} {terminal_safe(x['subject'])}: score {num(x['a'], '.2f')}{held(x.get('suppressed_a'), x.get('alerted_a', True), x['a'])} -> "
            f"{num(x['b'], '.2f')}{held(x.get('suppressed_b'), x.get('alerted_b', True), x['b'])}, rank {num(x['rank_a'], '.0f')} -> {num(x['rank_b'], '.0f')}"
        )
    return "\n".join(lines)
