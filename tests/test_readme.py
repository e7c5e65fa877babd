"""The README's promises: its two commands, and CI running exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_main_command_flags_the_sample_bulk_harvester_on_day_one(tmp_path):
    """The README's first command, run as written (minus the install) in a fresh directory."""
    import shlex
    import subprocess

    from tests.conftest import INSIDERWATCH

    command = readme_commands()[0].split("&& insiderwatch ", 1)[1]
    args = [a.replace("sample_logs/", str(ROOT / "sample_logs") + "/") for a in shlex.split(command)]
    proc = subprocess.run([*INSIDERWATCH, *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "insiderwatch.db").exists()  # the embedded default store
    line = next(x for x in proc.stdout.splitlines() if " A00073 " in x)
    assert line.startswith("2026-01-26")
    assert "identity document views" in line or "without a ticket" in line
    assert "team BOG-GEN-15" in proc.stdout
