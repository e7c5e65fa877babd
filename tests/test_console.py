"""The investigators' console, as a real server on 127.0.0.1 over a replayed store, on SQLite
and on PostgreSQL: the rules over plain HTTP (roles, CSRF, the sign-in rate limit, the
access record, no clear customer id in a URL or a log line) and an investigator's visit in
Debian's headless Chromium (sign in, untriaged cases, a case, reveal, triage, sign out)."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.console_bench import serving
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, chromium_driver, pg_schema

#: a replay, a server and a browser (slow)
pytestmark = pytest.mark.slow

httpx = pytest.importorskip("httpx")

PASSWORDS = {"ana": "ana's long passphrase", "vic": "vic's long passphrase", "aud": "aud's long passphrase", "bob": "bob's long passphrase"}
ROLES = {"ana": "investigator", "vic": "viewer", "aud": "auditor", "bob": "investigator"}


def iw(db: str, *args, stdin: str | None = None, check: bool = True):
    proc = subprocess.run([*INSIDERWATCH, "-q", "--db", db, *map(str, args)], capture_output=True, text=True, input=stdin)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    out = tmp_path_factory.mktemp("console-desk")
    run_simulation(SimulationSpec(agents=60, days=16, seed=21, insiders={"bulk": 1, "enumeration": 1}), out, show_progress=False)
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, desk, tmp_path_factory):
    """A replayed store with four users, and the console serving it: (url, db, log path,
    the desk's customer ids)."""
    work = tmp_path_factory.mktemp(f"console-{request.param}")
    with pg_schema() if request.param == "postgresql" else _sqlite(work) as db:
        iw(db, "replay", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--show", "0")
        for name, role in ROLES.items():
            iw(db, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORDS[name] + "\n")
        log = work / "server.log"
        customers = set(pd.read_csv(desk / "events.csv.gz", usecols=["customer_id"], dtype=str).customer_id.dropna())
        with open(log, "w") as sink, serving([*INSIDERWATCH, "--db", db, "serve", "--insecure-cookies"], output=sink) as url:
            yield {"url": url, "db": db, "log": log, "customers": customers}


class _sqlite:
    def __init__(self, work):
        self.url = f"sqlite:///{work / 'iw.db'}"

    def __enter__(self):
        return self.url

    def __exit__(self, *exc):
        return False


#: every URL the tests asked for and every redirect they were sent to
SEEN: list[str] = []


def _saw_request(request) -> None:
    SEEN.append(str(request.url))


def _saw_response(response) -> None:
    SEEN.append(response.headers.get("location", ""))


def sign_in(url: str, name: str, password: str | None = None) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=url, follow_redirects=False, event_hooks={"request": [_saw_request], "response": [_saw_response]})
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client, client.post("/signin", data={"name": name, "password": PASSWORDS[name] if password is None else password, "csrf": token})


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def a_case(client: httpx.Client) -> tuple[str, str]:
    """A case's key and one customer pseudonym on its page."""
    listing = client.get("/cases?status=all")
    key = re.search(r'href="/cases/([0-9a-f]{24})"', listing.text).group(1)
    page = client.get(f"/cases/{key}")
    return key, re.search(r"(cust-[0-9a-f]{12})", page.text).group(1)


def access(db: str) -> list[dict]:
    return [json.loads(x) for x in iw(db, "access-log", "--format", "jsonl").stdout.splitlines()]


def test_roles_csrf_rate_limit_and_the_access_record_over_http(console):
    url, db = console["url"], console["db"]
    # nobody signed in: every page sends to the sign-in page
    assert httpx.get(url + "/cases", follow_redirects=False).headers["location"] == "/signin"

    ana, done = sign_in(url, "ana")
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    key, pseudonym = a_case(ana)
    page = ana.get(f"/cases/{key}")
    assert "reveal-form" in page.text and "triage-form" in page.text
    assert "script-src" not in page.headers["content-security-policy"] and "default-src 'none'" in page.headers["content-security-policy"]

    # the case links its agents' pages
    agent = ana.get(re.search(r'href="(/agents/[^"]+)"', page.text).group(1), timeout=120)
    assert agent.status_code == 200 and 'id="agent-id"' in agent.text and f'href="/cases/{key}"' in agent.text
    assert ana.get("/agents/nobody-at-all").status_code == 404
    # a viewer sees the case, without the forms; a reveal or a triage is 403, and recorded
    vic, _ = sign_in(url, "vic")
    seen = vic.get(f"/cases/{key}")
    assert seen.status_code == 200 and "reveal-form" not in seen.text and "triage-form" not in seen.text and pseudonym in seen.text
    token = csrf_of(seen)
    assert vic.post(f"/cases/{key}/reveal", data={"csrf": token, "pseudonym": pseudonym, "reason": "curious"}).status_code == 403
    assert vic.post(f"/cases/{key}/triage", data={"csrf": token, "status": "benign", "note": "fine"}).status_code == 403
    assert vic.get("/access").status_code == 403
    record = access(db)
    assert {("vic", "reveal", "forbidden"), ("vic", "triage", "forbidden"), ("vic", "access", "forbidden")} <= {(r["user_name"], r["action"], r["outcome"]) for r in record}

    # a form without its CSRF token (or with another session's) is refused and changes nothing
    before = json.loads(iw(db, "case", key, "--json").stdout)["decisions"]
    assert ana.post(f"/cases/{key}/triage", data={"status": "benign", "note": "no token"}).status_code == 403
    assert ana.post(f"/cases/{key}/triage", data={"csrf": token, "status": "benign", "note": "vic's token"}).status_code == 403
    assert json.loads(iw(db, "case", key, "--json").stdout)["decisions"] == before

    # an investigator reveals with a reason (none: refused) and triages, under their name
    mine = csrf_of(page)
    assert ana.post(f"/cases/{key}/reveal", data={"csrf": mine, "pseudonym": pseudonym, "reason": ""}).status_code == 400
    shown = ana.post(f"/cases/{key}/reveal", data={"csrf": mine, "pseudonym": pseudonym, "reason": "check the KYC file"})
    clear = re.search(r'id="clear-id">([^<]+)<', shown.text).group(1)
    assert shown.status_code == 200 and clear in console["customers"]
    second = re.findall(r"(cust-[0-9a-f]{12})", page.text)
    other = next(p for p in second if p != pseudonym)
    assert ana.post(f"/cases/{key}/reveal", data={"csrf": mine, "pseudonym": other, "reason": "second look"}).status_code == 200
    decided = ana.post(f"/cases/{key}/triage", data={"csrf": mine, "status": "escalated", "note": "sent to HR"})
    assert decided.status_code == 303
    decisions = json.loads(iw(db, "case", key, "--json").stdout)["decisions"]
    assert (decisions[-1]["status"], decisions[-1]["author"], decisions[-1]["note"]) == ("escalated", "ana", "sent to HR")
    record = access(db)
    reveals = [(r["subject"], r["reason"]) for r in record if r["action"] == "reveal" and r["outcome"] == "ok"]
    assert reveals == [(pseudonym, "check the KYC file"), (other, "second look")]
    assert any(r["action"] == "triage" and r["user_name"] == "ana" and r["case_key"] == key for r in record)

    # the sixth wrong password in a minute is refused, even the right one
    for _ in range(5):
        assert sign_in(url, "bob", "wrong password!")[1].status_code == 401
    assert sign_in(url, "bob", "wrong password!")[1].status_code == 429
    assert sign_in(url, "bob")[1].status_code == 429
    # an auditor reads the access record in the console
    aud, _ = sign_in(url, "aud")
    assert aud.get("/access").status_code == 200 and "check the KYC file" in aud.get("/access").text and aud.get("/runs").status_code == 200

    # signing out ends the session: the same cookie no longer works
    out = ana.post("/signout", data={"csrf": mine})
    assert out.status_code == 303 and ana.get("/cases").headers["location"] == "/signin"

    # no clear customer id in any URL asked for or sent to, in the server's log or the record
    log = console["log"].read_text()
    assert "GET /cases" in log  # the access log is there to check
    record_text = iw(db, "access-log", "--format", "csv").stdout
    for text in (log, record_text, "\n".join(SEEN)):
        assert not set(re.findall(r"[^\s/?&=,;\"']+", text)) & console["customers"]
    assert clear not in log + record_text + "\n".join(SEEN)


def test_an_investigators_visit_in_headless_chromium(console):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chromium_driver()
    driver.implicitly_wait(60)  # a click returns before the next page has loaded (a case page is built on first view)
    from selenium.webdriver.support.ui import WebDriverWait

    def arrived(part: str) -> None:
        WebDriverWait(driver, 60).until(lambda d: part in d.current_url)

    try:
        driver.get(console["url"] + "/cases")
        assert driver.current_url.endswith("/signin")
        driver.find_element(By.ID, "name").send_keys("ana")
        driver.find_element(By.ID, "password").send_keys(PASSWORDS["ana"])
        driver.find_element(By.ID, "sign-in").click()
        arrived("/cases")
        assert driver.find_element(By.ID, "signed-in").text == "ana"
        # the untriaged filter: every case shown is untriaged
        if not driver.find_element(By.ID, "filter-untriaged").is_selected():
            driver.find_element(By.ID, "filter-untriaged").click()
        driver.find_element(By.ID, "apply").click()
        arrived("untriaged=1")
        rows = driver.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
        assert rows and all(r.find_element(By.CSS_SELECTOR, "td.triage").text == "untriaged" for r in rows)
        key = rows[0].find_element(By.CSS_SELECTOR, "a.case-link").text
        rows[0].find_element(By.CSS_SELECTOR, "a.case-link").click()
        assert driver.find_element(By.ID, "case-key").text == key
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
        # reveal one customer of the case, with a reason
        pseudonym = re.search(r"cust-[0-9a-f]{12}", driver.find_element(By.CSS_SELECTOR, "table.evidence").text).group(0)
        driver.find_element(By.ID, "reveal-pseudonym").send_keys(pseudonym)
        driver.find_element(By.ID, "reveal-reason").send_keys("match with the fraud report")
        driver.find_element(By.ID, "reveal-submit").click()
        clear = driver.find_element(By.ID, "clear-id").text
        assert clear in console["customers"] and clear not in driver.current_url
        # triage it
        driver.find_element(By.ID, "triage-note").send_keys("harvest confirmed by the team lead")
        Select(driver.find_element(By.ID, "triage-status")).select_by_value("confirmed")
        driver.find_element(By.ID, "triage-submit").click()
        assert "harvest confirmed by the team lead" in driver.find_element(By.ID, "decisions").text
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        # sign out: back to the sign-in page, and the cases are closed to this browser
        driver.find_element(By.ID, "sign-out").click()
        arrived("/signin")
        driver.get(console["url"] + "/cases")
        assert driver.current_url.endswith("/signin")
    finally:
        driver.quit()
    record = access(console["db"])
    assert any(r["action"] == "reveal" and r["subject"] == pseudonym and r["reason"] == "match with the fraud report" for r in record)
    assert any(r["action"] == "triage" and (r["case_key"] or "").startswith(key) and r["user_name"] == "ana" for r in record)


def test_an_auditor_verifies_a_run_in_the_console(console):
    if console["db"].startswith("postgresql"):
        pytest.skip("verify itself is tested on both stores (test_audit); here the console's part, once")
    aud, _ = sign_in(console["url"], "aud")
    page = aud.get("/runs")
    assert page.status_code == 200 and 'action="/runs/1/verify"' in page.text
    done = aud.post("/runs/1/verify", data={"csrf": csrf_of(page)}, timeout=600)  # it replays the run
    assert done.status_code == 200 and "IDENTICAL when recomputed" in done.text, done.text[-2000:]
    vic, _ = sign_in(console["url"], "vic")
    assert vic.post("/runs/1/verify", data={"csrf": csrf_of(vic.get("/cases"))}).status_code == 403
    assert any(r["action"] == "verify" and r["outcome"] == "identical" and r["user_name"] == "aud" for r in access(console["db"]))


def test_single_sign_on_through_a_trusted_header_only_from_the_proxy(console, tmp_path):
    db = console["db"]
    unsafe = tmp_path / "unsafe.toml"
    unsafe.write_text('[console]\ntrusted_header = "X-Remote-User"\n')
    refused = subprocess.run([*INSIDERWATCH, "--config", str(unsafe), "--db", db, "serve"], capture_output=True, text=True)
    assert refused.returncode == 2 and "trusted_proxies" in refused.stderr
    for proxy, believed in (("127.0.0.1", True), ("127.0.0.2", False)):
        config = tmp_path / f"sso-{proxy}.toml"
        config.write_text(f'[console]\ntrusted_header = "X-Remote-User"\ntrusted_proxies = ["{proxy}"]\n')
        with serving([*INSIDERWATCH, "-q", "--config", str(config), "--db", db, "serve", "--insecure-cookies"]) as url:
            as_ana = httpx.get(url + "/cases", headers={"X-Remote-User": "ana"}, follow_redirects=False)
            if believed:
                assert as_ana.status_code == 200 and 'id="signed-in">ana<' in as_ana.text
                # unknown or disabled users are nobody; and no password sign-in beside the proxy
                assert httpx.get(url + "/cases", headers={"X-Remote-User": "mallory"}, follow_redirects=False).status_code == 303
                assert httpx.get(url + "/signin").status_code == 403
            else:  # the header from an address that is not the proxy is ignored
                assert as_ana.status_code == 303 and as_ana.headers["location"] == "/signin"
    assert any(r["action"] == "sign-in" and r["user_name"] == "ana" and "sso" in (r["reason"] or "") for r in access(db))
