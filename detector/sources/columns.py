"""Mappings from raw field names to canonical columns: the one Protocol every kind meets.

A reader (:mod:`detector.sources.csv`, ``jsonl``, ``parquet``) knows a file's raw column
names; a :class:`ColumnMapping` says which of them supply which canonical column. Two kinds
exist: :class:`Mapping` (a plain ``rename``, the ``[sources.rename]`` config table) here,
and :class:`detector.mapping.FileMapping` (a mapping TOML file). Readers only call the
Protocol's members, so they never tell the kinds apart.

This module also builds the one "missing required column" error every mapping raises.

It must never read a file, and never let a raw field name reach anything downstream of
:meth:`ColumnMapping.transform`: after it, rows carry :mod:`detector.schema` names only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from detector import schema
from detector.errors import InputError
from detector.schema import missing_columns_error


@runtime_checkable
class ColumnMapping(Protocol):
    """What the readers need of a mapping, whatever its kind.

    ``json_typed``: JSON values are read with their own types and nested paths (True), or
    top-level keys as text (False). ``fmt``: the format of the files when their names do not
    say it (None: the names do).
    """

    @property
    def json_typed(self) -> bool: ...

    @property
    def fmt(self) -> str | None: ...

    def select(self, raw_columns: Iterable[str]) -> dict[str, str]:
        """Key -> raw column to read, for the raw columns a file offers."""
        ...

    def require(self, raw_columns: Sequence[str], path: str | Path) -> None:
        """InputError naming the file and the first required column nothing here supplies."""
        ...

    def coverage(self, raw_columns: Iterable[str]) -> dict[str, str | None]:
        """Canonical column -> what supplies it in a file with these columns (None: nothing)."""
        ...

    def transform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Canonical columns from a batch keyed by :meth:`select`'s keys, and per row the
        reason it is rejected (None where it is fine; None for the whole: nothing rejected)."""
        ...

    def select_streamed(self, used: Callable[[str], bool] | None, found: Sequence[str], path: str | Path) -> dict[str, str]:
        """What to read from every record of a stream known only by its first records.

        For JSON Lines, where later objects may carry keys the first ones lack. ``used``
        says whether the first records may use a raw name (None: they hold no record);
        ``found`` names their columns for an error message. Raises like :meth:`require`.
        """
        ...


def require_present(supplied: Iterable[str], raw_columns: Iterable[str], path: str | Path, *, required: Sequence[str] = schema.REQUIRED_COLUMNS) -> None:
    """Raise :func:`missing_columns_error` when a ``required`` column is not ``supplied``."""
    have = set(supplied)
    missing = [c for c in required if c not in have]
    if missing:
        raise missing_columns_error(missing, raw_columns, path)


@dataclass(frozen=True)
class Mapping:
    """How a source's raw field names map to the canonical event columns.

    Parameters
    ----------
    rename : dict of str to str
        Raw column name -> canonical name. Raw columns not named here keep their name, so a
        file already in canonical form needs no mapping. When several raw columns present in
        one file would supply the same canonical column, the first listed in ``rename`` wins
        over later ones, and any of them wins over a raw column already carrying the
        canonical name.

    Notes
    -----
    A :class:`ColumnMapping`, as :class:`detector.mapping.FileMapping` is.
    """

    rename: dict[str, str] = field(default_factory=dict)

    #: JSON values are read as strings (a rename never needs their types)
    json_typed: ClassVar[bool] = False
    #: a rename never says the format of the files
    fmt: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rename.values()) - set(schema.EVENT_COLUMNS))
        if unknown:
            raise InputError(
                f"mapping targets unknown canonical column {unknown[0]!r}; canonical columns are {', '.join(schema.EVENT_COLUMNS)}",
                column=unknown[0],
            )

    def select(self, raw_columns: Iterable[str]) -> dict[str, str]:
        """The raw column that supplies each canonical column present.

        Parameters
        ----------
        raw_columns : iterable of str
            Column names as the file spells them.

        Returns
        -------
        dict of str to str
            Canonical name -> raw name, in :data:`~detector.schema.EVENT_COLUMNS` order,
            only for canonical columns some raw column supplies.
        """
        present = list(raw_columns)
        chosen: dict[str, str] = {}
        for raw, canonical in self.rename.items():
            if raw in present and canonical not in chosen:
                chosen[canonical] = raw
        renamed_away = set(self.rename)
        for name in present:
            if name in schema.EVENT_COLUMNS and name not in chosen and name not in renamed_away:
                chosen[name] = name
        return {c: chosen[c] for c in schema.EVENT_COLUMNS if c in chosen}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Keep the columns that supply canonical ones, under their canonical names.

        Parameters
        ----------
        frame : DataFrame
            Rows with raw column names.

        Returns
        -------
        DataFrame
            Only the selected columns, renamed; other columns are dropped.
        """
        selected = self.select(frame.columns)
        out = frame[list(selected.values())]
        out.columns = list(selected)
        return out

    def require(self, raw_columns: Sequence[str], path: str | Path) -> None:
        """InputError naming the file and the first required column no raw column supplies."""
        require_present(self.select(raw_columns), raw_columns, path)

    def coverage(self, raw_columns: Iterable[str]) -> dict[str, str | None]:
        """Canonical column -> the raw column that supplies it (None: nothing does)."""
        selected = self.select(raw_columns)
        return {c: selected.get(c) for c in schema.EVENT_COLUMNS}

    def transform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Rows are already canonical after :meth:`select`: nothing to do, nothing rejected."""
        return frame, None

    def select_streamed(self, used: Callable[[str], bool] | None, found: Sequence[str], path: str | Path) -> dict[str, str]:
        """Canonical -> raw names, from the names the first records use (see :class:`ColumnMapping`)."""
        if used is None:
            return self.select(schema.EVENT_COLUMNS)
        keys = [name for name in [*schema.EVENT_COLUMNS, *self.rename] if used(name)]
        selected = self.select(keys)
        require_present(selected, list(dict.fromkeys([*found, *keys])), path)
        # an optional column absent from the first records may still appear later
        renamed_away = set(self.rename)
        for canonical in schema.OPTIONAL_COLUMNS:
            if canonical not in selected:
                raw = next((r for r, target in self.rename.items() if target == canonical), canonical)
                if raw == canonical and canonical in renamed_away:
                    continue
                selected[canonical] = raw
        return {c: selected[c] for c in schema.EVENT_COLUMNS if c in selected}


def as_mapping(mapping: ColumnMapping | dict[str, str] | None) -> ColumnMapping:
    """A :class:`ColumnMapping` from a mapping (as it is), a ``rename`` dict, or nothing (identity)."""
    if mapping is None:
        return Mapping()
    if isinstance(mapping, ColumnMapping):
        return mapping
    return Mapping(rename=dict(mapping))
