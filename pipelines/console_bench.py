"""``insiderwatch benchmark console``: the console under load, measured (not a timed test).

Starts ``insiderwatch serve`` on loopback over an existing store, signs in ``sessions``
users at once (a benchmark user of role viewer, made for the run and disabled after it),
and has each browse case pages (picked at random among the store's cases) for ``seconds``;
reports the latency of each page (p50, p95, p99, max), the pages served and the errors.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from detector.errors import UsageError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(command: list[str], *, output=subprocess.DEVNULL) -> Iterator[str]:
    """Run ``command`` (an ``insiderwatch ... serve`` command line, without --port) on a free
    loopback port until its sign-in page answers; its base URL. Stopped on leaving."""
    import httpx

    port = _free_port()
    server = subprocess.Popen([*command, "--port", str(port)], stdout=output, stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(url + "/signin", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_console_load(db: str, *, sessions: int = 50, seconds: float = 60.0, seed: int = 1) -> dict:
    """Serve the store at ``db`` and load it; the figures as a dict."""
    import logging

    from detector.config import Config
    from detector.store import Store
    from pipelines.cases import load_cases
    from pipelines.console import auth

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    store = Store(db, existing=True)
    keys = [c.key for c in load_cases(store, Config())]
    if not keys:
        raise UsageError("the store holds no case to browse: replay some logs into it first")
    name, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    store.add_user(name, role="viewer", password_hash=auth.hash_password(password), created_by="benchmark console")
    try:
        with serving([sys.executable, "-m", "pipelines.cli", "-q", "--db", db, "serve", "--insecure-cookies"]) as url:
            figures = asyncio.run(_load(url, name, password, keys, sessions=sessions, seconds=seconds, seed=seed))
    finally:
        store.set_user(name, disabled=True)
        store.end_sessions_of(name)
    figures.update({"store": db.split("@")[-1], "sessions": sessions, "seconds": seconds, "cases": len(keys)})
    return figures


async def _load(url: str, name: str, password: str, keys: list[str], *, sessions: int, seconds: float, seed: int) -> dict:
    import httpx

    rng = random.Random(seed)
    latencies: list[float] = []
    sizes: list[int] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def sign_in() -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=url, follow_redirects=False, timeout=60, limits=limits)
        page = await client.get("/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        done = await client.post("/signin", data={"name": name, "password": password, "csrf": token.group(1) if token else ""})
        if done.status_code != 303:
            raise UsageError(f"the benchmark user could not sign in: HTTP {done.status_code}")
        return client

    clients = [await sign_in() for _ in range(sessions)]
    # every case page once, so the figures are of a console in use, not of its first minute
    for key in keys:
        await clients[0].get(f"/cases/{key}")
    end = time.monotonic() + seconds

    async def browse(client: httpx.AsyncClient, picks: random.Random) -> None:
        while time.monotonic() < end:
            key = picks.choice(keys)
            start = time.perf_counter()
            try:
                page = await client.get(f"/cases/{key}")
                took = time.perf_counter() - start
                if page.status_code != 200:
                    errors[f"HTTP {page.status_code}"] = errors.get(f"HTTP {page.status_code}", 0) + 1
                else:
                    latencies.append(took)
                    sizes.append(len(page.content))
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    await asyncio.gather(*(browse(c, random.Random(rng.random())) for c in clients))
    for c in clients:
        await c.aclose()
    lat = np.array(latencies) * 1000.0
    return {
        "pages": len(latencies),
        "pages_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "max_ms": round(float(lat.max()), 1) if len(lat) else None,
        "errors": errors,
        "page_kb_median": round(float(np.median(sizes)) / 1024, 1) if sizes else None,
    }


def format_console_load(f: dict) -> str:
    errors = sum(f["errors"].values())
    return (
        f"{f['sessions']} signed-in sessions browsing {f['cases']} case pages for {f['seconds']:.0f} s on loopback ({f['store']}): "
        f"{f['pages']:,} pages ({f['pages_per_second']}/s, median {f['page_kb_median']} KB); latency p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
        f"p99 {f['p99_ms']} ms, max {f['max_ms']} ms; {errors} error(s)" + (f" {f['errors']}" if errors else "")
    )
