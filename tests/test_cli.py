"""The command line's shape, through the real `insiderwatch` entry point: every --help, the
shared day options, `rejects RUN`, and what `explain` says of an id that is not an agent."""

from __future__ import annotations

import subprocess

import click
import pytest

from tests.conftest import INSIDERWATCH


def iw(*args, cwd=None):
    return subprocess.run([*INSIDERWATCH, "-q", *map(str, args)], check=False, capture_output=True, text=True, cwd=cwd)


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the root group, as the words that name it."""
    from pipelines.cli import cli

    def walk(group: click.Group, path: tuple[str, ...]):
        for name, command in sorted(group.commands.items()):
            yield (*path, name)
            if isinstance(command, click.Group):
                yield from walk(command, (*path, name))

    return list(walk(cli, ()))


def test_every_visible_option_has_a_help_text_and_every_value_a_metavar():
    """A new option without help fails here, whichever command it is added to."""
    from pipelines.cli import cli

    def options(command: click.Command, path: str):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                yield path, param
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from options(sub, f"{path} {name}")

    found = list(options(cli, "insiderwatch"))
    assert len(found) > 60
    no_help = [f"{path} {param.opts[0]}" for path, param in found if not (param.help or "").strip()]
    assert not no_help, f"options without a help text: {no_help}"
    # a free-text value shows what it takes (TEXT, FILE, YYYY-MM-DD...), not click's STRING
    bare = [f"{path} {p.opts[0]}" for path, p in found if not p.is_flag and p.metavar is None and isinstance(p.type, click.types.StringParamType)]
    assert not bare, f"options without a metavar: {bare}"


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_help_exits_0_with_a_summary_and_an_example(path):
    """The pattern: a one-line summary (on an 80-column terminal), then an example."""
    proc = iw(*path, "--help")
    assert proc.returncode == 0, proc.stderr
    summary = proc.stdout.split("\n\n")[1].strip()
    assert summary and "\n" not in summary, f"{' '.join(path)}: the summary is not one line: {summary!r}"
    description = proc.stdout.split("\n\n", 2)[2].split("Options:")[0]
    assert f"insiderwatch {' '.join(path)}" in description, f"{' '.join(path)}: no example in its help"


def test_root_and_benchmark_help_list_every_command():
    assert all(f"  {name}" in iw("--help").stdout for name in ("nightly", "rejects", "verify", "validate-logs", "benchmark"))
    benchmark = iw("benchmark", "--help").stdout
    description = benchmark.split("Options:")[0]
    assert all(name in description for name in ("detection", "speed", "memory"))


def test_events_and_roster_say_their_config_defaults():
    text = " ".join(iw("nightly", "--help").stdout.split())
    assert "[default: [sources] events in the config]" in text
    assert "[default: [sources] roster in the config" in text


@pytest.mark.parametrize("command", [("alerts",), ("export", "alerts"), ("report", "--out", "site")])
def test_date_with_from_or_to_is_a_usage_error_and_nothing_is_written(command, tmp_path):
    for bounds in (("--from", "2026-01-01"), ("--to", "2026-01-09"), ("--from", "2026-01-01", "--to", "2026-01-09")):
        proc = iw(*command, "--date", "2026-01-05", *bounds, cwd=tmp_path)
        assert proc.returncode == 2, (command, bounds, proc.stderr)
        assert "--date gives one day: use it without --from and --to" in proc.stderr
    backwards = iw(*command, "--from", "2026-01-09", "--to", "2026-01-01", cwd=tmp_path)
    assert backwards.returncode == 2 and "--from 2026-01-09 is after --to 2026-01-01" in backwards.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no site


@pytest.fixture(scope="module")
def night_with_rejects(tmp_path_factory):
    """One night of 30 agents with two rows that cannot be used: run 1 has two rejects."""
    work = tmp_path_factory.mktemp("rejects")
    rows = ["timestamp,agent_id,customer_id,action,ticket_id"]
    rows += [f"2026-01-05T{9 + j % 8:02d}:{j:02d}:00Z,a{i:02d},C{i}{j},view,T{i}{j // 4}" for i in range(30) for j in range(40)]
    rows += ["not a time,a01,C1,view,T1", "2026-01-05T10:00:00Z,,C2,view,T2"]
    (work / "events.csv").write_text("\n".join(rows) + "\n")
    proc = iw("--db", f"sqlite:///{work / 'iw.db'}", "nightly", "--first-night", "--events", work / "events.csv", "--date", "2026-01-05")
    assert proc.returncode == 0, proc.stderr
    assert "(see: insiderwatch rejects 1)" in proc.stderr
    return work


def test_rejects_takes_the_run_as_an_argument_and_still_accepts_run(night_with_rejects):
    db = ("--db", f"sqlite:///{night_with_rejects / 'iw.db'}")
    new = iw(*db, "rejects", "1")
    old = iw(*db, "rejects", "--run", "1")
    assert new.returncode == old.returncode == 0, new.stderr + old.stderr
    assert new.stdout == old.stdout and new.stdout.count("\n") == 3  # header and two rows
    assert "2 rejected rows in run 1" in new.stderr and "deprecated" not in new.stderr
    assert "`rejects --run 1` is deprecated" in old.stderr
    assert "--run" not in iw("rejects", "--help").stdout  # hidden: RUN is the documented form
    for args in (("rejects",), ("rejects", "1", "--run", "2"), ("rejects", "99")):
        assert iw(*db, *args).returncode == 2, args


@pytest.mark.slow
def test_explain_of_a_team_says_it_is_a_group_and_how_to_see_it(sample_replay):
    """BOG-GEN-15 is the sample's ring: a team in the roster and a group alert subject."""
    cwd, proc = sample_replay
    assert proc.returncode == 0, proc.stderr
    told = iw("explain", "BOG-GEN-15", cwd=cwd)
    assert told.returncode == 2
    assert "never been scored" not in told.stderr
    message = told.stderr
    assert "'BOG-GEN-15' is not an agent: it is a team of the roster" in message and "team alert(s)" in message
    assert "insiderwatch alerts --date 2026-" in message and "insiderwatch explain A" in message
    # an id that is nothing at all is still told to check the id
    unknown = iw("explain", "NO-SUCH-ID", cwd=cwd)
    assert unknown.returncode == 2 and "has never been scored in this store" in unknown.stderr
