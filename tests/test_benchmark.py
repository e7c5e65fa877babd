"""The detection benchmark: metrics against labels, on tiny frames and through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from detector import features as ft
from detector.baselines import BASELINES
from detector.config import from_dict
from detector.errors import UsageError
from detector.evaluation import evaluate, flag_by_budget, recall_at_budgets
from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH


def test_metrics_on_a_tiny_labelled_desk():
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    rows = []
    for d in days:
        for a in ["a", "b", "c", "x"]:
            rows.append({"day": d, "agent_id": a, "score": {"a": 1.0, "b": 2.0, "c": 3.0, "x": 0.5}[a]})
    scores = pd.DataFrame(rows)
    scores.loc[(scores.agent_id == "x") & (scores.day == "2026-01-03"), "score"] = 9.0
    scores["flagged"] = flag_by_budget(scores, 0.25)  # one alert a night
    labels = pd.DataFrame({"agent_id": ["x"], "scenario": ["bulk"], "start_day": ["2026-01-02"], "end_day": ["2026-01-03"]})
    label_days = pd.DataFrame({"agent_id": ["x", "x"], "day": ["2026-01-02", "2026-01-03"], "exfil_events": [150, 200]})
    m = evaluate(scores, labels, label_days)
    assert m["recall"] == 1.0 and m["delay_median"] == 1.0 and m["exposure_median"] == 350
    assert m["precision_harvest_nights"] == 0.5  # night 2: c (false), night 3: x (true)
    assert abs(m["false_alerts_per_night"] - 2 / 3) < 1e-9
    assert m["by_scenario"]["bulk"]["recall"] == 1.0
    assert recall_at_budgets(scores, labels, [0.25, 1.0]) == [1.0, 1.0]


def test_baselines_have_no_look_ahead():
    frame = pd.DataFrame(
        [
            {"day": f"2026-01-{d:02d}", "agent_id": a, "views": v, "customers": v // 2, "ticketless_views": 1, **{f"h{h:02d}": 0 for h in range(24)}}
            for d in range(1, 11)
            for a, v in (("a", 100 + d), ("b", 50))
        ]
    )
    for name, baseline in BASELINES.items():
        full = baseline(frame, seed=0)
        early = baseline(frame[frame.day <= "2026-01-06"], seed=0)
        merged = early.merge(full, on=["day", "agent_id"], suffixes=("_early", "_full"))
        assert len(merged) == len(early) and (merged.score_early == merged.score_full).all(), name


def test_leaving_a_family_out_removes_its_inputs_and_names_are_checked():
    settings = ft.FeatureSettings(leave_out=("tickets", "persistence"))
    names = ft.model_input_names(settings)
    assert "ticketless_views__z" not in names and "off_primary_views__z" not in names and "accum__max" not in names
    assert "views__z" in names and "harvest__max" in names
    assert set(ft.model_input_names()) - set(names) == {"ticketless_views__z", "off_primary_views__z", "accum__max"}
    assert from_dict({"features": {"leave_out": ["first_seen"]}}).features.leave_out == ("first_seen",)
    with pytest.raises(UsageError, match="unknown family or metric 'tickts'"):
        from_dict({"features": {"leave_out": ["tickts"]}})


@pytest.mark.slow
def test_benchmark_detection_command_and_tuning_notebook(tmp_path):
    import subprocess

    data = tmp_path / "desk"
    run_simulation(SimulationSpec(agents=80, days=24, seed=9, insiders={"bulk": 1, "enumeration": 1}), data, show_progress=False)
    out = tmp_path / "det.json"
    proc = subprocess.run(
        [*INSIDERWATCH, "-q", "benchmark", "detection", "--data", str(data), "--json", str(out), "--plot", str(tmp_path / "r.png"), "--ablation"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    iw = results["detectors"]["insiderwatch"]
    assert set(results["detectors"]) == {"insiderwatch", "raw_views", "views_over_own_median", "iforest_raw_counts"}
    bulk = next(i for i in iw["per_insider"] if i["scenario"] == "bulk")
    # alerted within two days of its first harvest. (On this 80-agent desk a night has one
    # alert; this seed's bulk harvester had a benign alert five days before harvesting, so
    # as a known case it ranks first from its first night but yields that night's one slot
    # to a new subject above the bar.)
    assert bulk["alerted"] and bulk["delay_days"] <= 2
    assert iw["precision_harvest_nights"] >= 0.5
    assert (tmp_path / "r.png").stat().st_size > 10_000
    assert "insiderwatch" in proc.stdout and "by scenario" in proc.stdout and "insiderwatch without" in proc.stdout
    assert set(results["ablation"]) == set(ft.FAMILIES) and all(0 <= m["recall"] <= 1 for m in results["ablation"].values())
    h = results["score_histogram"]
    assert 0 < sum(h["harvesting"]) < sum(h["other"])

    # the tuning notebook runs on this result, top to bottom, and draws its four figures
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "tuning.ipynb", as_version=4)
    os.environ["INSIDERWATCH_BENCHMARK"] = str(out)
    try:
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        del os.environ["INSIDERWATCH_BENCHMARK"]
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    text = "".join(o.get("text", "") for o in outputs)
    assert "2 insiders" in text and "harvesting agent-days above 2.0" in text
    nbformat.write(notebook, tmp_path / "tuning.executed.ipynb")
