"""Compact event arrays used inside the simulator, and their conversion to canonical Arrow.

Events are held as integer codes (agent index, customer number, action and resource codes,
ticket number) so that millions of rows cost a few arrays, and turned into canonical strings
only when written.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector import schema as s

ACTIONS = np.array(["view", "search", "update", "note"], dtype=object)
VIEW, SEARCH, UPDATE, NOTE = range(4)
RESOURCES = np.array(["profile", "id_document", "balance", "transactions", "address", "ticket"], dtype=object)
PROFILE, ID_DOCUMENT, BALANCE, TRANSACTIONS, ADDRESS, TICKET = range(6)
NONE = -1

CUSTOMER_BASE = 1_000_000  # customer ids are C + 7 digits, consecutive (enumerable)
TICKET_BASE = 10_000_000


@dataclass
class EventArrays:
    """Aligned arrays, one element per event. ``ticket``/``resource`` are -1 when absent."""

    ts: np.ndarray  # int64 ms since epoch, UTC
    agent: np.ndarray  # int32 agent index
    customer: np.ndarray  # int64 customer number
    action: np.ndarray  # int8
    resource: np.ndarray  # int8
    ticket: np.ndarray  # int64

    @classmethod
    def empty(cls) -> EventArrays:
        return cls(
            ts=np.empty(0, np.int64),
            agent=np.empty(0, np.int32),
            customer=np.empty(0, np.int64),
            action=np.empty(0, np.int8),
            resource=np.empty(0, np.int8),
            ticket=np.empty(0, np.int64),
        )

    @classmethod
    def build(cls, ts, agent, customer, action, resource, ticket) -> EventArrays:
        n = len(ts)
        return cls(
            ts=np.asarray(ts, np.int64),
            agent=np.broadcast_to(np.asarray(agent, np.int32), n).copy(),
            customer=np.asarray(customer, np.int64),
            action=np.broadcast_to(np.asarray(action, np.int8), n).copy(),
            resource=np.broadcast_to(np.asarray(resource, np.int8), n).copy(),
            ticket=np.broadcast_to(np.asarray(ticket, np.int64), n).copy(),
        )

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def concat(cls, parts: list[EventArrays]) -> EventArrays:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def take(self, idx) -> EventArrays:
        return EventArrays(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _prefixed(numbers: np.ndarray, prefix: str, width: int, null_mask=None) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    out = pc.binary_join_element_wise(pa.scalar(prefix), text, "")
    if null_mask is not None and null_mask.any():
        out = pc.if_else(pa.array(null_mask), pa.nulls(len(out), pa.string()), out)
    return out


def _lookup(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    dictionary = pa.array(list(names), pa.string())
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    return pc.take(dictionary, indices)


def to_arrow(
    events: EventArrays,
    *,
    agent_ids: np.ndarray,
    agent_ips: np.ndarray,
    high_value: np.ndarray,
    event_numbers: np.ndarray,
    day_number: np.ndarray,
    typed_timestamps: bool,
) -> pa.Table:
    """Canonical Arrow table for ``events`` (already in output order).

    ``high_value`` is a boolean per customer offset; ``day_number`` numbers each event's
    session; ``event_numbers`` become the event ids (exact duplicates share theirs).
    """
    ts = pa.array(events.ts, pa.timestamp("ms", tz="UTC"))
    if not typed_timestamps:
        ts = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")
    tier = np.where(high_value[events.customer - CUSTOMER_BASE], 1, 0)
    sessions = events.agent.astype(np.int64) * 100_000 + day_number
    return pa.table(
        {
            s.TIMESTAMP: ts,
            s.AGENT_ID: _lookup(events.agent, agent_ids),
            s.CUSTOMER_ID: _prefixed(events.customer, "C", 7),
            s.ACTION: _lookup(events.action, ACTIONS),
            s.TICKET_ID: _prefixed(events.ticket, "TK", 8, null_mask=events.ticket < 0),
            s.RESOURCE: _lookup(events.resource, RESOURCES),
            s.CUSTOMER_TIER: _lookup(tier, np.array(["standard", s.HIGH_VALUE_TIER], dtype=object)),
            s.SESSION_ID: _prefixed(sessions, "S", 10),
            s.SOURCE_IP: _lookup(events.agent, agent_ips),
            s.EVENT_ID: _prefixed(event_numbers, "E", 10),
        }
    )
