"""Who may do what in the console: roles, passwords, sessions, CSRF tokens and the sign-in
rate limit. Pure decisions and small helpers; the store keeps users, sessions and the
access record (:mod:`detector.store.console`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from detector.errors import UsageError

#: what each role may do; every request is checked against it on the server
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"cases"}),
    "investigator": frozenset({"cases", "triage", "reveal"}),
    "auditor": frozenset({"cases", "runs", "access"}),
    "admin": frozenset({"cases", "users"}),
}
ROLE_WORDS = {
    "viewer": "see cases, customers pseudonymised",
    "investigator": "see cases, triage them, reveal one customer's id on a case page with a reason",
    "auditor": "see cases, read runs and the access record",
    "admin": "see cases, manage users",
}
#: failed sign-ins a minute before the next is refused: per user name, per address
FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20
RATE_WINDOW = timedelta(minutes=1)
#: a user name: letters, digits and . _ @ - (it is shown on pages and in the record)
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
MIN_PASSWORD = 12


def may(role: str | None, permission: str) -> bool:
    return role in ROLES and permission in ROLES[role]


def check_name(name: str) -> str:
    if not name or len(name) > 128 or not set(name) <= NAME_CHARS:
        raise UsageError("a user name is 1 to 128 letters, digits and . _ @ -")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"no role {role!r}: one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password has at least {MIN_PASSWORD} characters")
    return PasswordHasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: an argon2 hash to verify against when the user does not exist, so that a wrong name
#: takes as long as a wrong password
_DUMMY: list[str] = []


def dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def stamp(t: datetime) -> str:
    """A time as the store records it (UTC, to the second)."""
    return t.astimezone(UTC).isoformat(timespec="seconds")


def utcnow() -> datetime:
    return datetime.now(UTC)
