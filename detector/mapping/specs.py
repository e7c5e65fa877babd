"""What a mapping file's column entry says: value specs, rules, column specs; and the
lookup table a mapping joins. Plain values; only :func:`load_lookup` reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from detector import schema
from detector.errors import InputError
from detector.mapping.registry import sha256_of


@dataclass(frozen=True)
class ValueSpec:
    """How one value is made (a column's own keys, or one rule's)."""

    sources: tuple[str, ...] = ()
    value: str | None = None
    hash: tuple[str, ...] | None = None
    extract: str | None = None
    map: dict[str, str] | None = None
    lookup: str | None = None
    formats: tuple[str, ...] | None = None
    default: str | None = None

    @property
    def empty(self) -> bool:
        return not self.sources and self.value is None and self.hash is None and self.default is None

    def fields(self, all_fields: Sequence[str]) -> list[str]:
        if self.hash == ("row",):
            return list(all_fields)
        return list(self.sources) + list(self.hash or ())

    def describe(self) -> str:
        if self.value is not None:
            text = f"constant {self.value!r}"
        elif self.hash is not None:
            text = "hash of " + ("the row" if self.hash == ("row",) else ", ".join(self.hash))
        elif self.sources:
            text = " or ".join(self.sources)
        else:
            text = f"default {self.default!r}"
        if self.extract:
            text += f" ~ /{self.extract}/"
        if self.map:
            text += f" mapped ({len(self.map)} values)"
        if self.lookup:
            text += f" -> lookup.{self.lookup}"
        return text


@dataclass(frozen=True)
class Rule:
    when: tuple[tuple[str, str], ...]
    spec: ValueSpec


@dataclass(frozen=True)
class ColumnSpec:
    canonical: str
    spec: ValueSpec
    rules: tuple[Rule, ...] = ()

    def fields(self, all_fields: Sequence[str]) -> list[str]:
        out = self.spec.fields(all_fields)
        for rule in self.rules:
            out += [f for f, _ in rule.when] + rule.spec.fields(all_fields)
        return list(dict.fromkeys(out))

    def when_fields(self) -> list[str]:
        return list(dict.fromkeys(f for rule in self.rules for f, _ in rule.when))


@dataclass(frozen=True)
class Lookup:
    """A user-supplied table: key -> columns (loaded once per read)."""

    path: Path
    key: str
    sha256: str
    table: dict[str, pd.Series] = field(repr=False, compare=False)


def load_lookup(path: str | Path, key: str) -> Lookup:
    """Read a lookup CSV (strings, stripped); duplicate keys with different rows are errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError("lookup table not found", file=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", compression="infer")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError) as exc:
        raise InputError(f"cannot read lookup table: {exc}", file=str(path)) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if key not in frame.columns:
        raise InputError(f"lookup table has no key column {key!r}; columns found: {', '.join(frame.columns)}", file=str(path), column=key)
    frame = frame.apply(lambda col: col.str.strip())
    frame = frame[frame[key] != ""].drop_duplicates()
    dup = frame[key].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"lookup key {frame[key].iloc[i]!r} appears more than once with different values", file=str(path), column=key)
    indexed = frame.set_index(key)
    table = {c: indexed[c].replace("", pd.NA).astype(schema.STRING_DTYPE) for c in indexed.columns}
    return Lookup(path=path, key=key, sha256=sha256_of(path), table=table)
