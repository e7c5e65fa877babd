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
