"""The README's promises: its two commands, and CI running exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```\n(.+?)\n```", text, flags=re.S)


def test_first_two_commands_install_then_run_and_test():
    main, tests = readme_commands()[:2]
    assert "pip install ." in main and "insiderwatch " in main
    assert "'.[test]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_sample_logs_regeneration_command_is_documented():
    sample = (ROOT / "sample_logs" / "README.md").read_text()
    assert "insiderwatch simulate --agents 200 --days 35 --seed 7 --out sample_logs" in sample


def test_example_settings_are_valid():
    import tomllib

    from detector.config import from_dict

    text = (ROOT / "README.md").read_text()
    block = re.search(r"```toml\n(.+?)\n```", text, flags=re.S).group(1)
    cfg = from_dict(tomllib.loads(block))
    assert cfg.sources.rename == {"USER_ID_DERIVED": "agent_id"} and cfg.alerts.threshold == 2.0


@pytest.mark.slow
def test_main_command_flags_the_sample_bulk_harvester_on_day_one(sample_replay):
    """The README's first command, run as written (minus the install) in a fresh directory."""
    tmp_path, proc = sample_replay
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "insiderwatch.db").exists()  # the embedded default store
    line = next(x for x in proc.stdout.splitlines() if " A00073 " in x)
    assert line.startswith("2026-01-26")
    assert "identity document views" in line or "without a ticket" in line
    assert "team BOG-GEN-15" in proc.stdout
    # and the investigator report it promises, with the harvester's page
    from pipelines.report import agent_page_name

    index = (tmp_path / "report" / "index.html").read_text()
    assert "A00073" in index and (tmp_path / "report" / agent_page_name("A00073")).exists()
    assert (ROOT / "README.report.png").stat().st_size > 50_000


@pytest.mark.slow
def test_investigate_agent_notebook_runs_on_the_sample(sample_replay, tmp_path):
    """notebooks/investigate_agent.ipynb, top to bottom, on the store the README's command wrote."""
    import os

    import pytest

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    store_dir, proc = sample_replay
    assert proc.returncode == 0, proc.stderr
    notebook = nbformat.read(ROOT / "notebooks" / "investigate_agent.ipynb", as_version=4)
    saved = {k: os.environ.get(k) for k in ("INSIDERWATCH_DB", "INSIDERWATCH_AGENT")}
    os.environ["INSIDERWATCH_DB"] = f"sqlite:///{store_dir / 'insiderwatch.db'}"
    os.environ["INSIDERWATCH_AGENT"] = "A00073"
    try:
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "".join(o.get("text", "") for o in outputs)
    assert "agent 'A00073'" in text and re.search(r"2026-\d\d-\d\d: score \d", text) and "accesses stored as evidence" in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "cust-" in html  # customers pseudonymised in the evidence table
