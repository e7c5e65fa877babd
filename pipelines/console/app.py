"""The investigators' console: the cases of a store served behind sign-in and roles.

Starlette (an ASGI toolkit: routing, requests, responses) with the report's Jinja2
templates, under uvicorn. Chosen over FastAPI because every page is rendered on the server
from templates and forms: there is no JSON API for a schema layer to describe, and the
smaller surface is less to keep safe. No front-end framework and no script: filters are
forms, so the Content-Security-Policy forbids every script.

Every request is checked on the server: a session cookie (signed, HttpOnly, SameSite
Strict, expiring; the store keeps the SHA-256 of its token, never the token), the user's
role (:data:`pipelines.console.auth.ROLES`), and on every form its CSRF token. A forbidden
request is 403 and is recorded. Customer ids are pseudonymised as in the report; an
investigator reveals one customer of a case with a reason, in a POST whose answer is the
only place the clear id appears: never in a URL, a log line or the access record (which
keeps the pseudonym).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any
from urllib.parse import quote

import pandas as pd
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from detector import __version__
from detector import schema as s
from detector.cases import Case, find_case, select_cases
from detector.config import Config
from detector.errors import InsiderwatchError, UsageError
from detector.store import Store
from pipelines.console import auth

log = logging.getLogger("insiderwatch.console")

SESSION_COOKIE = "iw_session"
PRESESSION_COOKIE = "iw_signin"  # the sign-in form's CSRF token (double submit)
SECRET_ENV = "INSIDERWATCH_CONSOLE_SECRET"
#: every response: no script at all, nothing fetched but this console, no framing
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
TRIAGE_STATUSES = ("confirmed", "benign", "escalated")
#: pages and lists kept built (:meth:`Console.cached`)
CACHED = 256
#: where a cached page takes the user's name and CSRF token (no id or token has these)
_NAME_SLOT = "\u2063iw-user-name\u2063"
_CSRF_SLOT = "\u2063iw-csrf-token\u2063"


@dataclass
class Console:
    """What the routes share: the store, the settings, the cookie signer, the pseudonyms."""

    store: Store
    cfg: Config
    secret: str
    secure_cookies: bool
    session_minutes: int
    pseudo: Any = None
    env: Any = None
    signer: Any = None
    sso_seen: set = field(default_factory=set)
    #: what was built from the store, by what and the store's state then (:meth:`cached`)
    built: dict = field(default_factory=dict)
    lock: Any = field(default_factory=threading.Lock)

    def cached(self, what: tuple, make):
        """``make()``, or what it gave for ``what`` while the store's state
        (:meth:`detector.store.Store.state`) has not changed since: the cases, a case's page,
        an agent's page are rebuilt only when a run, a decision or a suppression changed
        them. At most :data:`CACHED` entries, the oldest dropped."""
        state = self.store.state()
        with self.lock:
            hit = self.built.get(what)
            if hit is not None and hit[0] == state:
                return hit[1]
        value = make()
        with self.lock:
            self.built[what] = (state, value)
            while len(self.built) > CACHED:
                self.built.pop(next(iter(self.built)))
        return value

    def __post_init__(self) -> None:
        from itsdangerous import URLSafeSerializer
        from jinja2 import DictLoader

        from pipelines.console.templates import CONSOLE_TEMPLATES
        from pipelines.report import PSEUDONYM_ENV, Pseudonymiser, _environment
        from pipelines.report_templates import TEMPLATES

        self.pseudo = Pseudonymiser(self.cfg.report.pseudonym_key or os.environ.get(PSEUDONYM_ENV, ""))
        self.env = _environment()
        self.env.loader = DictLoader({**TEMPLATES, **CONSOLE_TEMPLATES})
        self.signer = URLSafeSerializer(self.secret, salt="insiderwatch-console-session")


def _page(console: Console, request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    from pipelines.report import Z_WORDS, _classification

    user = context.pop("user", None)
    base = {
        "version": __version__,
        "first": context.pop("first", ""),
        "last": context.pop("last", ""),
        "classification": _classification(False),
        "revealed": False,
        "generated": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        "baseline": "",
        "z_words": Z_WORDS,
        "standalone": True,
        "csp": CSP.replace("; frame-ancestors 'none'", ""),  # forms post to the console itself; no script (frame-ancestors only counts as a header)
        "user": user,
        "permissions": sorted(auth.ROLES.get(user["role"], ())) if user else [],
        "csrf": user["csrf"] if user else "",
    }
    html = console.env.get_template(name).render({**base, **context})
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _trusted_user(console: Console, request: Request) -> dict | None:
    """Single sign-on: the user named by the trusted header, when the request comes from a
    trusted proxy (:class:`detector.config.ConsoleSettings`) and the user exists, enabled.
    Their CSRF token is a keyed hash of their name (no session row: the proxy signs in)."""
    settings = console.cfg.console
    name = request.headers.get(settings.trusted_header) if settings.trusted_header else None
    if not name or _address(request) not in settings.trusted_proxies:
        return None
    user = console.store.user(name[:128])
    if user is None or user["disabled"]:
        return None
    if user["name"] not in console.sso_seen:
        console.sso_seen.add(user["name"])
        console.store.record_access(user=user["name"], role=user["role"], action="sign-in", address=_address(request), reason="sso: trusted header from the proxy")
    csrf = hmac.new(console.secret.encode("utf-8"), b"csrf\x1f" + user["name"].encode("utf-8"), hashlib.sha256).hexdigest()
    return {"name": user["name"], "role": user["role"], "csrf": csrf, "token": None}


def _user(console: Console, request: Request) -> dict | None:
    """The signed-in user of this request (name, role, csrf), or None."""
    if console.cfg.console.trusted_header:
        return _trusted_user(console, request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    from itsdangerous import BadSignature

    try:
        token = console.signer.loads(cookie)
    except BadSignature:
        return None
    found = console.store.session(auth.token_digest(str(token)))
    if found is None or found["disabled"]:
        return None
    return {"name": found["user_name"], "role": found["role"], "csrf": found["csrf"], "token": str(token)}


async def _guard(console: Console, request: Request, permission: str) -> tuple[dict | None, Response | None]:
    """The user, or the response that ends the request: to the sign-in page when nobody is
    signed in, 403 (recorded) when the role does not allow ``permission``."""
    user = await run_in_threadpool(_user, console, request)
    if user is None:
        return None, RedirectResponse("/signin", status_code=303, headers=HEADERS)
    if not auth.may(user["role"], permission):
        await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action=permission, outcome="forbidden", address=_address(request), subject=request.url.path[:200])
        return user, _page(console, request, "message.html", 403, user=user, heading="Forbidden", message=f"Your role ({user['role']}) may not do this; the attempt is recorded.")
    return user, None


async def _form(console: Console, request: Request, user: dict) -> tuple[dict, Response | None]:
    """The posted form, or a 403 (recorded) when its CSRF token is not the session's."""
    form = dict(await request.form())
    if not auth.same(str(form.get("csrf", "")), user["csrf"]):
        await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action="csrf", outcome="refused", address=_address(request), subject=request.url.path[:200])
        return form, _page(console, request, "message.html", 403, user=user, heading="Form refused", message="The form's CSRF token is missing or wrong: open the page again and resend it.")
    return form, None


# --- sign-in and out ----------------------------------------------------------------------
def _sso_only(console: Console, request: Request) -> Response | None:
    if not console.cfg.console.trusted_header:
        return None
    return _page(console, request, "message.html", 403, heading="Single sign-on", message="This console signs users in through its proxy (single sign-on): open it through the proxy.")


async def signin_page(request: Request) -> Response:
    console: Console = request.app.state.console
    if (sso := _sso_only(console, request)) is not None:
        return sso
    token = auth.new_token()
    response = _page(console, request, "signin.html", csrf=token)
    response.set_cookie(PRESESSION_COOKIE, token, max_age=600, httponly=True, samesite="strict", secure=console.secure_cookies, path="/signin")
    return response


async def signin(request: Request) -> Response:
    console: Console = request.app.state.console
    if (sso := _sso_only(console, request)) is not None:
        return sso
    form = dict(await request.form())
    name, password = str(form.get("name", ""))[:128], str(form.get("password", ""))
    address = _address(request)
    if not auth.same(str(form.get("csrf", "")), request.cookies.get(PRESESSION_COOKIE)):
        await run_in_threadpool(console.store.record_access, user=name or "-", action="sign-in", outcome="refused", address=address, reason="CSRF token missing or wrong")
        return _page(console, request, "message.html", 403, heading="Form refused", message="The sign-in form's CSRF token is missing or wrong: open the sign-in page again.")
    ok, user, refused = await run_in_threadpool(_check_sign_in, console, name, password, address)
    if not ok:
        status = 429 if refused else 401
        message = "Too many failed sign-ins: wait a minute." if refused else "Wrong user name or password."
        token = auth.new_token()
        response = _page(console, request, "signin.html", status, message=message, csrf=token)
        response.set_cookie(PRESESSION_COOKIE, token, max_age=600, httponly=True, samesite="strict", secure=console.secure_cookies, path="/signin")
        return response
    token = auth.new_token()
    csrf = auth.new_token()
    expires = auth.utcnow() + pd.Timedelta(minutes=console.session_minutes).to_pytimedelta()
    await run_in_threadpool(console.store.add_session, auth.token_digest(token), user=name, csrf=csrf, expires_at=auth.stamp(expires))
    done = RedirectResponse("/cases?untriaged=1", status_code=303, headers=HEADERS)
    done.set_cookie(SESSION_COOKIE, console.signer.dumps(token), max_age=console.session_minutes * 60, httponly=True, samesite="strict", secure=console.secure_cookies, path="/")
    done.delete_cookie(PRESESSION_COOKIE, path="/signin")
    return done


def _check_sign_in(console: Console, name: str, password: str, address: str) -> tuple[bool, dict | None, bool]:
    """(signed in, the user, refused by the rate limit); every attempt is recorded."""
    since = auth.stamp(auth.utcnow() - auth.RATE_WINDOW)
    store = console.store
    if store.failed_sign_ins(since, user=name) >= auth.FAILURES_PER_USER or store.failed_sign_ins(since, address=address) >= auth.FAILURES_PER_ADDRESS:
        store.record_access(user=name or "-", action="sign-in", outcome="refused", address=address, reason="too many failed sign-ins in a minute")
        return False, None, True
    user = store.user(name) if name else None
    good = auth.verify_password(user["password_hash"] if user else auth.dummy_hash(), password)
    if not user or not good or user["disabled"]:
        store.record_access(user=name or "-", action="sign-in", outcome="failed", address=address, reason="disabled user" if user and good else "wrong name or password")
        return False, None, False
    store.record_access(user=name, role=user["role"], action="sign-in", address=address)
    return True, user, False


async def signout(request: Request) -> Response:
    console: Console = request.app.state.console
    user = await run_in_threadpool(_user, console, request)
    if user is None:
        return RedirectResponse("/signin", status_code=303, headers=HEADERS)
    _, refused = await _form(console, request, user)
    if refused:
        return refused
    if user["token"] is None:  # signed in by the proxy: it signs out
        return _page(console, request, "message.html", user=user, heading="Signed in by the proxy", message="Sign out at your single sign-on provider.")
    await run_in_threadpool(console.store.end_session, auth.token_digest(user["token"]))
    await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action="sign-out", address=_address(request))
    response = RedirectResponse("/signin", status_code=303, headers=HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- cases ----------------------------------------------------------------------------------
def _cases(console: Console) -> list[Case]:
    from pipelines.cases import load_cases

    return console.cached(("cases",), lambda: load_cases(console.store, console.cfg))


def _case_rows(console: Console, filters: dict) -> tuple[list[dict], list[str], list[str]]:
    from pipelines.cases import case_document, case_exposure

    store = console.store
    cases = _cases(console)
    agents = sorted({a for c in cases for a in ([c.subject_id] if c.subject_type == "agent" else c.members)})
    scores = store.scores_of(agents) if agents else pd.DataFrame(columns=[s.AGENT_ID, s.TEAM, s.VENDOR])
    latest = scores.drop_duplicates(s.AGENT_ID, keep="last").set_index(s.AGENT_ID) if len(scores) else pd.DataFrame()

    def group_of(case: Case, column: str) -> str | None:
        if case.subject_type == column:
            return case.subject_id
        who = [case.subject_id] if case.subject_type == "agent" else case.members
        values = sorted({str(latest.loc[a, column]) for a in who if a in latest.index and pd.notna(latest.loc[a, column])})
        return ", ".join(values) or None

    rows = []
    for c in cases:
        doc = case_document(c, None)
        doc["vendor"], doc["team"] = group_of(c, s.VENDOR), group_of(c, s.TEAM)
        rows.append((c, doc))
    vendors = sorted({v for _, d in rows for v in (d["vendor"] or "").split(", ") if v})
    teams = sorted({v for _, d in rows for v in (d["team"] or "").split(", ") if v})
    chosen = set(id(c) for c in select_cases(cases, filters["status"], filters["untriaged"]))
    out = []
    for c, d in rows:
        if id(c) not in chosen:
            continue
        if filters["vendor"] and filters["vendor"] not in (d["vendor"] or "").split(", "):
            continue
        if filters["team"] and filters["team"] not in (d["team"] or "").split(", "):
            continue
        if filters["day"] and filters["day"] not in {str(x) for x in c.days["day"]}:
            continue
        d["exposure"] = case_exposure(store, c)
        out.append(d)
    return out, vendors, teams


async def cases_page(request: Request) -> Response:
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, "cases")
    if stop:
        return stop
    q = request.query_params
    filters = {
        "status": q.get("status") if q.get("status") in ("open", "closed", "all") else "open",
        "untriaged": q.get("untriaged") == "1",
        "vendor": q.get("vendor", "")[:200],
        "team": q.get("team", "")[:200],
        "day": q.get("day", "")[:10],
    }
    rows, vendors, teams = await run_in_threadpool(console.cached, ("list", *sorted(filters.items())), lambda: _case_rows(console, filters))
    return _page(console, request, "cases.html", user=user, cases=rows, vendors=vendors, teams=teams, filters=filters)


def agent_href(agent_id: str) -> str:
    """The console's page of an agent (ids are attacker-controlled: quoted whole)."""
    return "/agents/" + quote(agent_id, safe="")


def _case_context(console: Console, key: str) -> tuple[Case, dict]:
    from pipelines.report import _case_page

    case = find_case(_cases(console), key)
    agents = [case.subject_id] if case.subject_type == "agent" else list(case.members)
    page = console.cached(("case", case.key), lambda: _case_page(console.store, console.cfg, case, {a: agent_href(a) for a in agents}, console.pseudo, False))
    return case, page


def _agent_context(console: Console, agent_id: str) -> dict | None:
    from pipelines.report import single_agent_page

    built = console.cached(("agent", agent_id), lambda: single_agent_page(console.store, console.cfg, agent_id, console.pseudo))
    if built is None:
        return None
    page = {**built, "days": [dict(d) for d in built["days"]]}  # links set below, on a copy
    for d in page["days"]:
        d["case_file"] = f"/cases/{quote(d['case_key'])}" if d["case_key"] else None
    cases = [c for c in _cases(console) if agent_id == c.subject_id or agent_id in c.members]
    page["cases"] = [{"key": c.key, "file": f"/cases/{quote(c.key)}", "subject": c.subject_id if c.subject_type == "agent" else f"{c.subject_type} {c.subject_id}"} for c in cases]
    return page


async def agent_page(request: Request) -> Response:
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, "cases")
    if stop:
        return stop
    agent_id = request.path_params["agent_id"]
    page = await run_in_threadpool(_agent_context, console, agent_id)
    if page is None:
        return _page(console, request, "message.html", 404, user=user, heading="No such agent", message="No alert or case of the store names this agent.")
    return _page(console, request, "console_agent.html", user=user, **page)


async def case_page(request: Request, revealed: dict | None = None, status: int = 200) -> Response:
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, "cases")
    if stop:
        return stop
    assert user is not None
    try:
        case, page = await run_in_threadpool(_case_context, console, request.path_params["key"])
    except UsageError as exc:
        return _page(console, request, "message.html", 404, user=user, heading="No such case", message=str(exc))
    if revealed is not None:
        return _page(console, request, "console_case.html", status, user=user, first=case.opened, last=case.last_day, revealed_customer=revealed, **page)
    # the page as every user of this role sees it, built once while the store is unchanged;
    # the user's name and CSRF token go in last (both escaped: a name is letters and digits,
    # a token URL-safe base64, but nothing here relies on it)
    stand_in = {**user, "name": _NAME_SLOT, "csrf": _CSRF_SLOT}

    def build() -> bytes:
        return bytes(_page(console, request, "console_case.html", user=stand_in, first=case.opened, last=case.last_day, revealed_customer=None, **page).body)

    body = await run_in_threadpool(console.cached, ("case-html", case.key, user["role"]), build)
    body = body.replace(_NAME_SLOT.encode(), html_escape(user["name"]).encode()).replace(_CSRF_SLOT.encode(), html_escape(user["csrf"]).encode())
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _find_customer(console: Console, case: Case, pseudonym: str) -> str | None:
    """The clear id of the case's customer whose pseudonym is ``pseudonym`` (None: none)."""
    rows, _ = console.store.evidence_of(case.alert_keys)
    if case.subject_type != "agent" and len(rows):
        rows = rows[rows[s.AGENT_ID].isin(case.members)]
    for customer in pd.unique(rows[s.CUSTOMER_ID].dropna().astype(str)) if len(rows) else []:
        if secrets.compare_digest(console.pseudo(customer), pseudonym):
            return str(customer)
    return None


async def _posted(request: Request, permission: str) -> tuple[Console, dict, dict, Response | None]:
    """A form posted by a user whose role allows ``permission``, with its CSRF token checked:
    (console, user, form, the response that ends the request or None)."""
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, permission)
    if stop is not None or user is None:
        return console, user or {}, {}, stop
    form, refused = await _form(console, request, user)
    return console, user, form, refused


async def _the_case(console: Console, request: Request, user: dict) -> tuple[Case | None, Response | None]:
    """The case of the URL's key, or a 404 page."""
    try:
        return await run_in_threadpool(lambda: find_case(_cases(console), request.path_params["key"])), None
    except UsageError as exc:
        return None, _page(console, request, "message.html", 404, user=user, heading="No such case", message=str(exc))


async def reveal(request: Request) -> Response:
    console, user, form, stop = await _posted(request, "reveal")
    if stop is not None:
        return stop
    pseudonym, reason = str(form.get("pseudonym", "")).strip()[:64], str(form.get("reason", "")).strip()[:500]
    case, missing = await _the_case(console, request, user)
    if case is None:
        return missing or Response(status_code=404)
    if not reason:
        return _page(console, request, "message.html", 400, user=user, heading="A reason is required", message="Say why you need this customer's id: the reason is recorded with the reveal.")
    clear = await run_in_threadpool(_find_customer, console, case, pseudonym)
    address = _address(request)
    if clear is None:
        await run_in_threadpool(
            console.store.record_access, user=user["name"], role=user["role"], action="reveal", outcome="refused", address=address, case_key=case.key, subject=pseudonym, reason=reason
        )
        return _page(console, request, "message.html", 404, user=user, heading="No such customer on this case", message=f"{pseudonym} is not a customer of case {case.key[:12]}.")
    await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action="reveal", address=address, case_key=case.key, subject=pseudonym, reason=reason)
    return await case_page(request, revealed={"pseudonym": pseudonym, "customer": clear})


async def triage(request: Request) -> Response:
    console, user, form, stop = await _posted(request, "triage")
    if stop is not None:
        return stop
    status, note = str(form.get("status", "")), str(form.get("note", "")).strip()[:2000]
    if status not in TRIAGE_STATUSES or not note:
        return _page(console, request, "message.html", 400, user=user, heading="Decision refused", message="Give a decision (confirmed, benign or escalated) and a note.")
    case, missing = await _the_case(console, request, user)
    if case is None:
        return missing or Response(status_code=404)
    await run_in_threadpool(console.store.add_decision, case.key, status=status, note=note, author=user["name"])
    await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action="triage", address=_address(request), case_key=case.key, subject=status, reason=note)
    return RedirectResponse(f"/cases/{quote(case.key)}", status_code=303, headers=HEADERS)


# --- runs and the access record --------------------------------------------------------------
RUN_COLUMNS = ["run_id", "kind", "status", "started_at", "finished_at", "day_from", "day_to", "detector_version", "message"]


def _run_rows(console: Console) -> list[dict]:
    runs = console.store.runs()
    if not len(runs):
        return []
    return runs[[c for c in RUN_COLUMNS if c in runs]].astype(object).where(runs.notna(), None).to_dict("records")


async def runs_page(request: Request, verification: dict | None = None) -> Response:
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, "runs")
    if stop:
        return stop
    rows = await run_in_threadpool(_run_rows, console)
    return _page(console, request, "runs.html", user=user, columns=RUN_COLUMNS, rows=rows, verification=verification)


def _verify(console: Console, run_id: int) -> dict:
    from pipelines.audit import format_verification, verify_run

    try:
        result = verify_run(console.store, run_id)
    except InsiderwatchError as exc:  # an input changed or is gone (InputError), or no such run
        return {"run_id": run_id, "identical": None, "text": str(exc)}
    return {"run_id": run_id, "identical": result.identical, "text": format_verification(result)}


async def verify(request: Request) -> Response:
    console, user, _, stop = await _posted(request, "runs")
    if stop is not None:
        return stop
    try:
        run_id = int(request.path_params["run_id"])
    except ValueError:
        return _page(console, request, "message.html", 404, user=user, heading="No such run", message="A run is a number.")
    outcome = await run_in_threadpool(_verify, console, run_id)
    told = "identical" if outcome["identical"] else "different" if outcome["identical"] is not None else "refused"
    await run_in_threadpool(console.store.record_access, user=user["name"], role=user["role"], action="verify", outcome=told, address=_address(request), subject=f"run {run_id}")
    return await runs_page(request, verification=outcome)


ACCESS_COLUMNS = ["id", "at", "user_name", "role", "action", "outcome", "address", "case_key", "subject", "reason"]


async def access_page(request: Request) -> Response:
    console: Console = request.app.state.console
    user, stop = await _guard(console, request, "access")
    if stop:
        return stop
    record = await run_in_threadpool(console.store.access_record)
    rows = record.astype(object).where(record.notna(), None).to_dict("records")[::-1] if len(record) else []
    note = "Append-only: sign-ins, reveals (the customer as its pseudonym, with the reason), triage in the console, refused forms and forbidden requests. Newest first."
    return _page(console, request, "table.html", user=user, heading="Access record", note=note, table_id="access", columns=ACCESS_COLUMNS, rows=rows)


async def home(request: Request) -> Response:
    return RedirectResponse("/cases", status_code=303, headers=HEADERS)


def create_app(store: Store, cfg: Config, *, secret: str | None = None, secure_cookies: bool = True, session_minutes: int = 480) -> Starlette:
    """The console's ASGI application over ``store``."""
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/signin", signin_page, methods=["GET"]),
            Route("/signin", signin, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/cases", cases_page, methods=["GET"]),
            Route("/cases/{key}", case_page, methods=["GET"]),
            Route("/cases/{key}/reveal", reveal, methods=["POST"]),
            Route("/cases/{key}/triage", triage, methods=["POST"]),
            Route("/agents/{agent_id:path}", agent_page, methods=["GET"]),
            Route("/runs", runs_page, methods=["GET"]),
            Route("/runs/{run_id}/verify", verify, methods=["POST"]),
            Route("/access", access_page, methods=["GET"]),
        ]
    )
    app.state.console = Console(store, cfg, secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32), secure_cookies, session_minutes)
    return app
