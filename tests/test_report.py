"""The investigator report, from a real replay: its content (top alert, reasons, evidence,
pseudonymised customers, hostile values escaped) and, in a real headless Chromium (Debian's
chromium and chromium-driver, driven by Selenium; no browser download), that it loads with
no console errors, runs no injected script, sorts, filters and opens an agent page."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.report import agent_page_name
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, chromium_driver

#: a real replay, then the report in headless Chromium (slow)
pytestmark = pytest.mark.slow

HOSTILE_AGENT = 'A<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">&\''
HOSTILE_CUSTOMER = 'C<b onmouseover=alert(1)>=HYPERLINK("http://x")'
KEY = "test-pseudonym-key"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def iw(*args, env=None):
    proc = subprocess.run([*INSIDERWATCH, *map(str, args)], capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A small desk whose bulk harvester carries a hostile agent id and touches a customer
    with a hostile id, replayed with --report."""
    work = tmp_path_factory.mktemp("report")
    data = work / "desk"
    run_simulation(SimulationSpec(agents=60, days=21, seed=5, insiders={"bulk": 1}), data, show_progress=False)
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    insider = labels.agent_id[0]
    events = pd.read_csv(data / "events.csv.gz", dtype=str, keep_default_na=False)
    mine = events.index[events.agent_id == insider]
    events.loc[mine, "agent_id"] = HOSTILE_AGENT
    start = labels.start_day[0]
    harvest = events.index[(events.agent_id == HOSTILE_AGENT) & events.timestamp.str.startswith(start) & (events.ticket_id == "")]
    events.loc[harvest[:3], "customer_id"] = HOSTILE_CUSTOMER
    events.to_csv(work / "events.csv.gz", index=False)
    roster = pd.read_csv(data / "roster.csv", dtype=str, keep_default_na=False)
    roster.loc[roster.agent_id == insider, "agent_id"] = HOSTILE_AGENT
    roster.to_csv(work / "roster.csv", index=False)
    db = f"sqlite:///{work / 'iw.db'}"
    out = work / "site"
    proc = iw("-q", "--db", db, "replay", "--events", work / "events.csv.gz", "--roster", work / "roster.csv", "--report", out, env={"INSIDERWATCH_PSEUDONYM_KEY": KEY})
    return {"work": work, "db": db, "out": out, "start": start, "proc": proc}


def alerts_of(db: str) -> pd.DataFrame:
    import io

    return pd.read_csv(io.StringIO(iw("-q", "--db", db, "export", "alerts", "--format", "csv").stdout), dtype=str, keep_default_na=False)


def pseudonym(value: str) -> str:
    return "cust-" + hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]


def test_report_content_from_a_real_run(reported):
    out = reported["out"]
    index = (out / "index.html").read_text()
    assert "RESTRICTED" in index and "pseudonymised" in index
    # the top row is the bulk harvester, its hostile id shown as text, never as markup
    first_row = index.split('id="alerts"')[1].split("<tbody>")[1].split("</tr>")[0]
    assert "A&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;&amp;&#39;" in first_row
    assert HOSTILE_AGENT not in index and "<img src=x" not in index
    page = (out / agent_page_name(HOSTILE_AGENT)).read_text()
    alerts = alerts_of(reported["db"])
    mine = alerts[alerts.subject_id == HOSTILE_AGENT]
    assert reported["start"] in set(mine.day), "the harvester is alerted on its first harvesting day"
    from html import escape

    for reasons in mine.reasons:
        for sentence in reasons.split(" | "):
            assert escape(sentence) in page
    # evidence: the harvesting day's accesses, customers pseudonymised with the keyed hash
    section = page.split(f'id="day-{reported["start"]}"')[1].split("</section>")[0]
    evidence = section.split('class="evidence"')[1]
    customers = re.findall(r'<td class="id">(cust-[0-9a-f]{12})</td>', evidence)
    assert len(customers) > 100
    assert pseudonym(HOSTILE_CUSTOMER) in customers
    assert "HYPERLINK" not in page and "onmouseover" not in page
    run = (out / "run.html").read_text()
    digest = hashlib.sha256((reported["work"] / "events.csv.gz").read_bytes()).hexdigest()
    assert digest in run and "test-pseudonym-key" not in run + page + index
    roster_digest = hashlib.sha256((reported["work"] / "roster.csv").read_bytes()).hexdigest()
    assert roster_digest in run.split("<th>roster</th>")[1].split("</tr>")[0]


def test_revealed_report_shows_customers_and_says_so(reported, tmp_path):
    out = tmp_path / "revealed"
    proc = iw("-q", "--db", reported["db"], "report", "--date", reported["start"], "--out", out, "--reveal-customers")
    assert proc.stdout.strip().endswith("index.html")
    page = (out / agent_page_name(HOSTILE_AGENT)).read_text()
    assert "CONTAINS PERSONAL DATA" in page
    assert "C&lt;b onmouseover=alert(1)&gt;=HYPERLINK(&#34;http://x&#34;)" in page and "cust-" not in page


def test_each_alerted_day_shows_its_alert_key_and_its_latest_decision(reported, tmp_path):
    """An investigator copies the key from the page into `insiderwatch triage`; the next
    report shows the decision, with a hostile note and author kept out of the page."""
    alerts = alerts_of(reported["db"])
    mine = alerts[(alerts.subject_id == HOSTILE_AGENT) & (alerts.day == reported["start"])]
    key = mine.alert_key.iloc[0]
    page = (reported["out"] / agent_page_name(HOSTILE_AGENT)).read_text()
    section = page.split(f'id="day-{reported["start"]}"')[1].split("</section>")[0]
    assert f"<code>{key[:12]}</code>" in section and "not triaged yet" in section  # as every listing shows keys
    iw("-q", "--db", reported["db"], "triage", key[:12], "--status", "escalated", "--note", "sent to HR", "--by", "ana<b>")
    out = tmp_path / "after"
    iw("-q", "--db", reported["db"], "report", "--date", reported["start"], "--out", out)
    section = (out / agent_page_name(HOSTILE_AGENT)).read_text().split(f'id="day-{reported["start"]}"')[1].split("</section>")[0]
    assert "triaged <strong>escalated</strong> by ana&lt;b&gt;" in section and "ana<b>" not in section
    assert "sent to HR" in section  # the note, with the case's history a link away


def test_report_of_an_unknown_run_is_a_usage_error(reported, tmp_path):
    proc = subprocess.run([*INSIDERWATCH, "-q", "--db", reported["db"], "report", "--run", "999", "--out", tmp_path / "x"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no run 999" in proc.stderr and not (tmp_path / "x" / "index.html").exists()


def test_report_in_headless_chromium(reported):
    driver = chromium_driver()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    try:
        driver.get((reported["out"] / "index.html").as_uri())
        assert driver.title.startswith("Alerts")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert driver.execute_script("return window.__pwned === undefined")
        rows = lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr") if r.is_displayed()]  # noqa: E731
        agent_texts = lambda: [r.find_element(By.CSS_SELECTOR, "a.agent-link").text for r in rows()]  # noqa: E731
        assert agent_texts()[0] == HOSTILE_AGENT  # shown literally, ranked first
        n = len(rows())
        assert n >= 2

        # sorting by score: ascending, then descending
        score_header = driver.find_elements(By.CSS_SELECTOR, "#alerts thead th")[6]
        score_header.click()
        scores = [float(r.find_elements(By.TAG_NAME, "td")[6].text) for r in rows()]
        assert scores == sorted(scores) and agent_texts()[-1] == HOSTILE_AGENT
        score_header.click()
        scores = [float(r.find_elements(By.TAG_NAME, "td")[6].text) for r in rows()]
        assert scores == sorted(scores, reverse=True)

        # filtering by team and by day
        team_select = Select(driver.find_element(By.ID, "filter-team"))
        team = team_select.options[1].get_attribute("value")
        team_select.select_by_value(team)
        assert rows() and all(r.find_elements(By.TAG_NAME, "td")[3].text == team for r in rows())
        assert driver.find_element(By.ID, "shown").text == str(len(rows()))
        team_select.select_by_value("")
        day_select = Select(driver.find_element(By.ID, "filter-day"))
        day_select.select_by_value(reported["start"])
        assert HOSTILE_AGENT in agent_texts() and len(rows()) <= n
        day_select.select_by_value("")
        assert len(rows()) == n

        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report-index.png"))
        # the harvester's page opens from its link, with the id as text and the plots drawn
        driver.find_element(By.LINK_TEXT, HOSTILE_AGENT).click()
        assert driver.find_element(By.ID, "agent-id").text == HOSTILE_AGENT
        assert driver.execute_script("return window.__pwned === undefined")
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) >= 3 and all(driver.execute_script("return arguments[0].naturalWidth", i) > 100 for i in images)
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        driver.save_screenshot(str(ARTIFACTS / "report-agent.png"))
        assert (ARTIFACTS / "report-agent.png").stat().st_size > 20_000
    finally:
        driver.quit()


def test_cases_in_headless_chromium(sample_replay, tmp_path):
    """The sample desk's report by case: the untriaged filter hides a triaged case, the bulk
    harvester's case page has a timeline of every day it stood out (alerted, then kept),
    and the ring's team case links to a page for each member, also A00158, who has no
    alert of its own on the team's days."""
    from selenium.webdriver.common.by import By

    store_dir, proc = sample_replay
    assert proc.returncode == 0, proc.stderr
    shutil.copy(store_dir / "insiderwatch.db", tmp_path / "insiderwatch.db")
    db = f"sqlite:///{tmp_path / 'insiderwatch.db'}"
    import json

    cases = [json.loads(x) for x in iw("-q", "--db", db, "cases", "--json").stdout.splitlines()]
    bulk = next(c for c in cases if c["subject_id"] == "A00073")
    team = next(c for c in cases if c["subject_id"] == "BOG-GEN-15")
    iw("-q", "--db", db, "triage", bulk["case"][:12], "--status", "escalated", "--note", "HR told <b>today</b>", "--by", "ana")
    out = tmp_path / "site"
    iw("-q", "--db", db, "report", "--from", "2026-01-26", "--to", "2026-02-07", "--out", out, env={"INSIDERWATCH_PSEUDONYM_KEY": KEY})
    driver = chromium_driver()
    try:
        driver.get((out / "index.html").as_uri())
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        shown = lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "#cases tbody tr") if r.is_displayed()]  # noqa: E731
        keys = lambda: [r.find_element(By.CSS_SELECTOR, "a.case-link").text for r in shown()]  # noqa: E731
        everyone = keys()
        assert bulk["case"][:12] in everyone and team["case"][:12] in everyone
        driver.find_element(By.ID, "filter-untriaged").click()
        assert bulk["case"][:12] not in keys() and team["case"][:12] in keys()
        assert all(r.find_element(By.CSS_SELECTOR, "td.triage").text == "untriaged" for r in shown())
        assert driver.find_element(By.ID, "cases-shown").text == str(len(everyone) - 1)
        driver.find_element(By.ID, "filter-untriaged").click()
        assert keys() == everyone

        # the bulk harvester's case: a timeline of every day it stood out, its triage note
        driver.find_element(By.LINK_TEXT, bulk["case"][:12]).click()
        assert driver.find_element(By.ID, "case-key").text == bulk["case"][:12]
        timeline = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
        assert [r[1] for r in timeline][:2] == ["alerted", "kept"] and len(timeline) >= 5
        assert all(int(r[4].replace(",", "")) > 100 and int(r[5].replace(",", "")) > 100 and r[7] for r in timeline)  # views, accesses, reason
        decisions = driver.find_element(By.ID, "decisions").text
        assert "escalated" in decisions and "HR told <b>today</b>" in decisions
        day = driver.find_element(By.ID, f"day-{timeline[1][0]}")
        assert "+08:00" in day.find_element(By.CSS_SELECTOR, "table.evidence tbody tr").text  # Manila local time with its offset
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report-case.png"))

        # the ring's case: its members link to their pages
        driver.get((out / "index.html").as_uri())
        driver.find_element(By.LINK_TEXT, team["case"][:12]).click()
        members = {a.text: a for a in driver.find_elements(By.CSS_SELECTOR, "#members a.member-link")}
        assert {"A00157", "A00158", "A00164", "A00165"} <= set(members)
        assert driver.find_elements(By.CSS_SELECTOR, "#shared tbody tr")  # customers two members opened
        members["A00158"].click()
        assert driver.find_element(By.ID, "agent-id").text == "A00158"
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "member of team BOG-GEN-15" in page and team["case"][:12] in driver.find_element(By.ID, "agent-cases").text
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
