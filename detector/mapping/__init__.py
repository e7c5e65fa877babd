"""Mapping files: how a support tool's export becomes canonical access events.

A mapping is a small declarative TOML file (trusted: it comes from whoever runs insiderwatch)
that says, for each canonical column, which raw field supplies it and how: renames with
several candidate names, timestamp formats, value maps (action normalisation), extraction by
regular expression, constants, conditional rules, a join with a lookup table, and an event id
hashed from the row. :func:`load_mapping` turns a built-in name or a file path into a
:class:`FileMapping`; :mod:`detector.sources` only calls its ``select`` / ``transform``
methods, batch by batch (so memory stays bounded), and never learns a raw name itself.

This module reads a mapping file or lookup table only when asked (never at import), knows
no vendor (the vendors live in ``detector/mappings/*.toml``), and never lets a log value
reach anything but string comparison: regular expressions come from the mapping file and run
on Arrow's RE2 engine, whose matching time is linear in the input (no catastrophic
backtracking on attacker-written fields).

Mapping file keys
-----------------
Top level:

``name`` (str)
    The mapping's name (default: the file name without ``.toml``).
``description`` (str)
    One line on what export this reads.
``format`` (``"csv"``, ``"jsonl"``, ``"parquet"``)
    Format of the files, when their names do not say it.
``[lookup]``
    A user-supplied CSV table joined on a key: ``path`` (relative to the mapping file; the
    command line's ``--lookup`` overrides it), ``key`` (the table's key column). A column
    rule takes a table column with ``lookup = "column"``.
``[columns]``
    One entry per canonical column (timestamp, agent_id, customer_id, action, ticket_id,
    resource, customer_tier, session_id, source_ip, event_id). The entry is a raw field name,
    a list of candidate names (the first one present and non-empty in a row wins), or a table
    with the keys below.

A column table (and each of its ``rules``) takes:

``from`` (str or list of str)
    Candidate raw fields. In JSON, a dotted path reaches into nested objects
    (``actor.user.uid``) and ``[0]`` takes the first element of an array
    (``web_resources[0].uid``); a literal key with dots (``"user.id"``) is found too. In CSV
    and Parquet a field is a header name, matched exactly (never a position).
``value`` (str)
    A constant instead of a field.
``hash`` (list of str, or ``"row"``)
    A 64-bit hash of these fields (``"row"``: every field the mapping reads), written as 16
    hex digits; for an event id when the source has no unique one.
``extract`` (str)
    A regular expression (RE2 syntax) searched in the value; the value becomes its only
    capture group (or its group named ``value``); no match gives no value.
``map`` (table)
    Value -> canonical value, applied after ``extract``; values not listed are kept as they
    are (``action``, ``resource`` and ``customer_tier`` are lower-cased afterwards).
``lookup`` (str)
    The value is a key of the lookup table; take this table column. A key not in the table
    rejects the row (required columns) naming the key.
``formats`` (list of str; ``timestamp`` only)
    Tried in order, each on the values the previous ones could not parse: ``"iso"``
    (ISO-8601 with offset or Z, naive = UTC, or epoch seconds/ms), ``"epoch_s"``,
    ``"epoch_ms"``, or a strftime pattern such as ``"%Y%m%d%H%M%S.%f"`` (taken as UTC).
``default`` (str)
    The value when nothing else gives one.
``rules`` (column tables only: list of tables)
    Conditional sources, first match wins: each rule has ``when`` (a table of raw field ->
    regular expression that must match the whole value; an absent field is the empty
    string) and the value keys above. Rows no rule matches use the column's own keys, if
    any; a required column left without a value rejects the row with a reason naming the
    fields the rules looked at.

Rows read = rows accepted + rows rejected holds: a row the mapping cannot give a required
column is rejected with its reason, never dropped.

Layout
------
``load`` (reading and checking a mapping file), ``specs`` (what a column entry says, the
lookup table), ``file_mapping`` (:class:`FileMapping`, which applies it), ``vectors`` (the
column operations it applies with), ``registry`` (the built-in mappings). JSON paths are
resolved by :mod:`detector.sources.jsonpath`, shared with the JSON Lines reader.
"""

from __future__ import annotations

from detector.mapping.file_mapping import FileMapping
from detector.mapping.load import load_mapping, parse_mapping
from detector.mapping.registry import BUILTIN_DIR, builtin_descriptions, builtin_mappings, resolve_mapping, sha256_of
from detector.mapping.specs import ColumnSpec, Lookup, Rule, ValueSpec, load_lookup
from detector.mapping.vectors import REASON_VALUE_CHARS, _hash_rows, parse_with_formats
from detector.sources.jsonpath import get_path, path_segments

__all__ = [
    "BUILTIN_DIR",
    "REASON_VALUE_CHARS",
    "ColumnSpec",
    "FileMapping",
    "Lookup",
    "Rule",
    "ValueSpec",
    "_hash_rows",
    "builtin_descriptions",
    "builtin_mappings",
    "get_path",
    "load_lookup",
    "load_mapping",
    "parse_mapping",
    "parse_with_formats",
    "path_segments",
    "resolve_mapping",
    "sha256_of",
]
