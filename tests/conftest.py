"""Shared fixtures: small simulated desks written once per test session."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from detector import schema
from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation

#: the installed console script, run as a user would (tests never import the CLI to test it)
INSIDERWATCH = [str(Path(sys.executable).with_name("insiderwatch"))]

#: the PostgreSQL test server (.ci/run sets it when the server answers)
PG_URL = os.environ.get("INSIDERWATCH_TEST_PG")


@contextmanager
def pg_schema(skip_reason: str = "set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run this on PostgreSQL") -> Iterator[str]:
    """A store URL on a fresh schema of the PostgreSQL test server, dropped afterwards; the
    test is skipped (with ``skip_reason``) when no server is configured."""
    if not PG_URL:
        pytest.skip(skip_reason)
    from sqlalchemy import create_engine, text

    name = f"iw_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


SIM_AGENTS = 150
SIM_DAYS = 35
SIM_SEED = 11


def load_events(path: Path) -> pd.DataFrame:
    """Events of a simulator output directory, validated into canonical dtypes."""
    if path.suffix == ".parquet":
        raw = pd.read_parquet(path)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    result = schema.validate(raw, source=str(path))
    assert len(result.rejects) == 0, result.rejects.head().to_string()
    return result.accepted


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory) -> Path:
    """A desk of 150 people over 35 days with the default insider mix."""
    out = tmp_path_factory.mktemp("sim")
    run_simulation(SimulationSpec(agents=SIM_AGENTS, days=SIM_DAYS, seed=SIM_SEED), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def sim_clean_dir(tmp_path_factory) -> Path:
    """The same desk and seed with no insiders: identical benign work."""
    out = tmp_path_factory.mktemp("sim_clean")
    run_simulation(SimulationSpec(agents=SIM_AGENTS, days=SIM_DAYS, seed=SIM_SEED, insiders={}), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def sim_events(sim_dir) -> pd.DataFrame:
    return load_events(sim_dir / "events.csv.gz")


@pytest.fixture(scope="session")
def sim_clean_events(sim_clean_dir) -> pd.DataFrame:
    return load_events(sim_clean_dir / "events.csv.gz")


@pytest.fixture(scope="session")
def sim_roster(sim_dir) -> pd.DataFrame:
    return pd.read_csv(sim_dir / "roster.csv", dtype=str, keep_default_na=False)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_replay(tmp_path_factory):
    """The README's first command (minus the install), run as written in a fresh directory:
    (the directory, the finished process)."""
    import re
    import shlex
    import subprocess

    text = (ROOT / "README.md").read_text()
    main = re.findall(r"```\n(.+?)\n```", text, flags=re.S)[0]
    command = main.split("&& insiderwatch ", 1)[1]
    args = [a.replace("sample_logs/", str(ROOT / "sample_logs") + "/") for a in shlex.split(command)]
    cwd = tmp_path_factory.mktemp("readme")
    proc = subprocess.run([*INSIDERWATCH, *args], capture_output=True, text=True, cwd=cwd)
    return cwd, proc


def no_day_refusal(message: str) -> tuple[int, int]:
    """(rows read, accepted + rejected) from a night's refusal for holding no event of its
    day (:func:`pipelines.run.run_days`): its reason accounts for every row."""
    import re

    found = re.search(r"no events of \d{4}-\d{2}-\d{2}: ([\d,]+) rows read = ([\d,]+) accepted \+ ([\d,]+) rejected", message)
    assert found, message
    read, accepted, rejected = (int(x.replace(",", "")) for x in found.groups())
    return read, accepted + rejected


def _chromium():
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium and chromium-driver (.ci/run does)")
    pytest.skip("install Debian's chromium and chromium-driver to run the browser tests")


def chromium_driver():
    """A Selenium driver of Debian's headless Chromium (no browser download); the test is
    skipped without it, except under CI=true, where .ci/run installs it."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)
