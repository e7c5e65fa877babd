"""A day with very many distinct agents (a broken export, or an insider writing agent ids)
is scored whole: every agent gets a score, the store holds them all, and the digests the run
recorded match what verify reads back. Memory is measured by ``insiderwatch benchmark
memory`` (``--distinct-agents``), not here."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from detector.config import Config
from detector.store import Store
from pipelines.audit import verify_run
from pipelines.digests import run_digests
from pipelines.run import run_nightly

DAY = "2026-03-02"


def write_many_agents(path, n: int, seed: int = 1) -> set[str]:
    """A canonical CSV of one day: ``n`` distinct agents, 1 to 3 views each."""
    rng = np.random.default_rng(seed)
    agents = [f"A{i:07d}" for i in range(n)]
    with gzip.open(path, "wt") as f:
        f.write("timestamp,agent_id,customer_id,action\n")
        for agent, k in zip(agents, rng.integers(1, 4, n)):
            for j in range(k):
                hour, minute = rng.integers(0, 24), rng.integers(0, 60)
                f.write(f"{DAY}T{hour:02d}:{minute:02d}:{j:02d}Z,{agent},C{rng.integers(0, 10_000_000):07d},view\n")
    return set(agents)


@pytest.mark.slow
def test_a_night_of_20k_distinct_agents_scores_every_agent(tmp_path):
    path = tmp_path / "many.csv.gz"
    agents = write_many_agents(path, 20_000)
    store = Store(f"sqlite:///{tmp_path / 'many.db'}")
    summary = run_nightly(Config(), store, str(path), DAY, roster=None, show_progress=False, first_night=True)
    assert summary.nights[0].agents == len(agents)
    scores = store.scores(DAY, DAY)
    assert len(scores) == len(agents)
    assert set(scores["agent_id"]) == agents
    assert scores["score"].notna().all() and scores["rank"].notna().all()
    # the digests written in chunks and read back agree with a fresh read of the store
    digests = run_digests(store, summary.run_id)
    assert set(digests["scores"]) == {DAY}
    assert verify_run(store, summary.run_id).identical
