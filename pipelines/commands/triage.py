"""Commands that record investigators' decisions: triage, suppress.

They write decisions and suppressions to the store (append-only); they never rescore.
"""

from __future__ import annotations

import logging

import click

from detector.days import yesterday_utc
from detector.errors import UsageError
from detector.store import Store
from pipelines.options import day_option, with_store
from pipelines.output import shown_key, terminal_safe, write_table

log = logging.getLogger("insiderwatch")

#: feature families a suppression can be scoped to (features.FAMILIES, less persistence)
PATTERNS = ["volume", "tickets", "record_kinds", "enumeration", "hours", "exports", "first_seen"]
DECISION_COLUMNS = ["id", "alert_key", "status", "note", "author", "decided_at", "supersedes"]
SUPPRESSION_COLUMNS = ["id", "agent_id", "until", "pattern", "reason", "ticket", "owner", "created_at", "from_alert"]

by_option = click.option("--by", "by", metavar="NAME", help="Who decided.  [default: the login name]")
ticket_option = click.option("--ticket", metavar="REF", help="Case or change ticket that approves the suppression.")


def _author(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name on this system (no passwd entry, no $USER)
        return "unknown"


def _suppression_line(sid: int, agent: str, until: str, pattern: str | None, ticket: str) -> str:
    scope = f", only alerts driven by {pattern}" if pattern else ""
    return f"suppression {sid}: agent {terminal_safe(agent)} until {until}{scope} (ticket {terminal_safe(ticket)})"


@click.command("triage")
@click.argument("alert")
@click.option("--status", type=click.Choice(["confirmed", "benign", "escalated"]), help="The decision.")
@click.option("--note", metavar="TEXT", help="Why: what was checked, what was found.")
@by_option
@day_option("--suppress-until", "suppress_until", "With --status benign: also suppress the alert's agent until this day (needs --ticket).")
@ticket_option
@click.option("--pattern", type=click.Choice(PATTERNS), help="Scope the suppression to alerts driven mostly by this feature family.")
@click.option("--history", is_flag=True, help="Only list the alert's decisions, oldest first.")
@with_store
def triage_command(store: Store, alert: str, status: str | None, note: str | None, by: str | None, suppress_until: str | None, ticket: str | None, pattern: str | None, history: bool) -> None:
    """Record an investigator's decision on an alert.

    \b
    Example:
      insiderwatch triage 3fa9c1 --status benign --note "KYC backlog, checked with the lead" \\
          --suppress-until 2026-12-15 --ticket SEC-1042
    ALERT is its key, or its first 6+ characters, from `insiderwatch alerts` or `export
    alerts`. Writes the decision to the store. Decisions are never overwritten: a new one
    supersedes the last, and --history shows them all with time and author. A benign
    decision can suppress the agent in the same step (the suppression names the alert it
    came from); a suppression never changes the model: the agent is still scored and their
    alerts are stored, marked, not raised. Exit 0; 2 bad usage or unknown alert.
    """
    found = store.find_alert(alert)
    subject = f"alert {shown_key(found['alert_key'])} ({found['subject_type']} {terminal_safe(found['subject_id'])}, {found['day']})"
    if history:
        n = write_table(store.decisions(found["alert_key"]).to_dict("records"), DECISION_COLUMNS, "csv", None)
        click.echo(f"{n} decision(s) on {subject}", err=True)
        return
    if not status or not note:
        raise UsageError("give --status and --note (or --history)")
    if suppress_until and (status != "benign" or not ticket or found["subject_type"] != "agent"):
        raise UsageError("--suppress-until goes with --status benign, --ticket and an agent alert")
    author = _author(by)
    decision = store.add_decision(found["alert_key"], status=status, note=note, author=author)
    superseding = f", superseding decision {decision['supersedes']}" if decision["supersedes"] else ""
    click.echo(f"decision {decision['id']}: {subject} {status} by {terminal_safe(author)}{superseding}")
    if suppress_until and ticket:
        sid = store.add_suppression(found["subject_id"], until=suppress_until, reason=note, ticket=ticket, owner=author, from_alert=found["alert_key"], pattern=pattern)
        click.echo(_suppression_line(sid, found["subject_id"], suppress_until, pattern, ticket) + ", from this decision")


@click.command("suppress")
@click.argument("agent", required=False)
@day_option("--until", "until", "Last day the suppression applies.")
@click.option("--reason", metavar="TEXT", help="Why this agent's alerts are expected.")
@ticket_option
@click.option("--by", "by", metavar="NAME", help="Owner.  [default: the login name]")
@click.option("--pattern", type=click.Choice(PATTERNS), help="Only alerts driven mostly by this feature family (e.g. record_kinds for a KYC secondment).")
@click.option("--list", "listing", is_flag=True, help="List every suppression (active or expired) instead.")
@with_store
def suppress_command(store: Store, agent: str | None, until: str | None, reason: str | None, ticket: str | None, by: str | None, pattern: str | None, listing: bool) -> None:
    """Suppress an agent's alerts until a day, with an owner, reason and ticket.

    \b
    Example:
      insiderwatch suppress A00123 --until 2026-12-31 --reason "fraud-team secondment" --ticket SEC-1043
    Writes the suppression to the store. The agent is still scored every night and an alert
    of theirs is stored, marked with the suppression, and never takes the night's budget or
    reaches the alert list. Expired suppressions stop applying. Replays apply the
    suppressions that existed on each day unless told otherwise (replay --suppressions
    current). Exit 0; 2 bad usage.
    """
    if listing:
        n = write_table(store.suppressions().to_dict("records"), SUPPRESSION_COLUMNS, "csv", None)
        click.echo(f"{n} suppression(s)", err=True)
        return
    if not (agent and until and reason and ticket):
        raise UsageError("give AGENT, --until, --reason and --ticket (or --list)")
    if not store.knows_agent(agent):
        log.warning("agent %s has never been scored in this store: check the id (the suppression is kept for when they appear)", terminal_safe(agent))
    if until < yesterday_utc():
        log.warning("--until %s is already past: the suppression covers no coming night, only replays of days up to then with --suppressions current", until)
    sid = store.add_suppression(agent, until=until, reason=reason, ticket=ticket, owner=_author(by), pattern=pattern)
    click.echo(_suppression_line(sid, agent, until, pattern, ticket))


COMMANDS = [triage_command, suppress_command]
