"""Commands that follow cases: cases (list them), case (one, whole).

A case follows a subject from its first alert until triage closes it (:mod:`detector.cases`);
both commands only read the store.
"""

from __future__ import annotations

import json

import click

from detector.cases import find_case, select_cases
from detector.store import Store
from pipelines.cases import case_detail, case_document, case_evidence, case_exposure, format_case, format_cases, load_cases
from pipelines.options import AppContext, json_option, pass_app, with_store


@click.command("cases")
@click.option("--status", type=click.Choice(["open", "closed", "all"]), default="open", show_default=True, help="Which cases to list.")
@click.option("--untriaged", is_flag=True, help="Only cases nobody has decided on yet.")
@json_option
@with_store
@pass_app
def cases_command(app: AppContext, store: Store, status: str, untriaged: bool, as_json: bool) -> None:
    """List the cases: each subject followed from its first alert until closed.

    \b
    Examples:
      insiderwatch cases                      # the open ones
      insiderwatch cases --untriaged          # open and nobody has decided yet
      insiderwatch cases --status all --json
    A case opens on a subject's first alert (agent, team or site). While it is open, every
    night the subject still stands out is one of its days (an agent whose score reached the
    night's bar, alerted or not: the night's budget goes to new subjects, the case keeps
    the rest). Exposure: the distinct customers and records of its days. `triage CASE`
    decides on it: benign or confirmed closes it, escalated keeps it open.
    Exit 0; 2 no store.
    """
    cases = select_cases(load_cases(store, app.config), status, untriaged)
    docs = [case_document(c, case_exposure(store, c)) for c in cases]
    if as_json:
        for d in docs:
            click.echo(json.dumps(d, allow_nan=False))
        return
    what = f"{status} case(s)" if status != "all" else "case(s)"
    if not docs:
        click.echo(f"no {'untriaged ' if untriaged else ''}{what}")
        return
    click.echo(format_cases(docs))
    click.echo(f"{len(docs)} {'untriaged ' if untriaged else ''}{what} (one: insiderwatch case CASE)", err=True)


@click.command("case")
@click.argument("key")
@json_option
@with_store
@pass_app
def case_command(app: AppContext, store: Store, key: str, as_json: bool) -> None:
    """Show one case: its days, what it exposed, its members and its decisions.

    \b
    Example:
      insiderwatch case 3fa9c1
    KEY is the case's key (its first alert's), or its first 6+ characters, from `insiderwatch
    cases`; the key of any of its alerts finds it too.
    Exit 0; 2 no such case.
    """
    case = find_case(load_cases(store, app.config), key)
    doc = case_detail(case, case_exposure(store, case), case_evidence(store, case))
    click.echo(json.dumps(doc, allow_nan=False, indent=1) if as_json else format_case(doc))


COMMANDS = [cases_command, case_command]
