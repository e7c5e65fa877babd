"""The ``insiderwatch`` commands, one module per area; :func:`register` adds every area's
commands to the root group.

- running: nightly, rescore, replay (score and store)
- results: alerts, explain, export, rejects, report, runs (read stored results)
- cases: cases, case (follow a subject from its first alert until triage closes it)
- triage: triage, suppress (record investigators' decisions)
- audit: verify, diff (check runs)
- console: serve, users, access-log (the investigators' console)

A command parses its options (through :mod:`pipelines.options`), calls one pipeline
function and prints a summary; logic lives in the pipelines, never here.
"""

from __future__ import annotations

import click

from pipelines.commands import audit, cases, console, results, running, triage

AREAS = (running, results, cases, triage, audit, console)


def register(root: click.Group) -> None:
    for area in AREAS:
        for command in area.COMMANDS:
            root.add_command(command)
