"""Input specs to files, and a file to its format and raw columns.

An input spec is a file, a directory or a glob, or a list of them; :func:`resolve_inputs`
turns it into files, :func:`detect_format` names a file's format from its name (the endings
in :data:`~detector.sources.registry.EXTENSIONS`), :func:`check_inputs` refuses a file of no
known format before anything is read. This module never reads a file's content, except
:func:`raw_columns`, which reads its header or first records.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from detector.errors import InputError
from detector.sources.registry import EXTENSIONS, FORMATS


def detect_format(path: str | Path) -> str | None:
    """The format a file name implies (``"csv"``, ``"jsonl"``, ``"parquet"``), or None."""
    name = Path(path).name.lower()
    for ending in sorted(EXTENSIONS, key=len, reverse=True):
        if name.endswith(ending):
            return EXTENSIONS[ending]
    return None


def resolve_inputs(spec: str | Path | Sequence[str | Path], *, any_name: bool = False) -> list[Path]:
    """Expand an input spec to the files it names.

    Parameters
    ----------
    spec : str, Path or sequence of them
        Each item is a file (taken whatever its name), a directory (every file with a
        supported extension under it, recursively, hidden files and folders skipped) or a
        glob pattern (``*``, ``?``, ``[...]``, ``**``; files with a supported extension).
    any_name : bool
        Take every file a directory or pattern holds, whatever its extension (when the
        caller names the format).

    Returns
    -------
    list of Path
        Files in the order of the items; within a directory or glob, sorted by path. A file
        named twice is listed once.

    Raises
    ------
    InputError
        When an item is neither an existing path nor a pattern matching files, or a
        directory or pattern holds no supported file.
    """
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    if not items:
        raise InputError("no input given")
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and (any_name or detect_format(p) is not None) and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise InputError("directory holds no CSV, JSON Lines or Parquet file", file=str(item))
            found.extend(files)
        elif glob.has_magic(str(item)):
            files = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file() and (any_name or detect_format(p) is not None))
            if not files:
                raise InputError("pattern matches no CSV, JSON Lines or Parquet file", file=str(item))
            found.extend(files)
        else:
            raise InputError("no such file or directory", file=str(item))
    return list(dict.fromkeys(found))


def check_inputs(spec: str | Path | Sequence[str | Path], *, fmt: str | None = None) -> list[Path]:
    """The files ``spec`` names (:func:`resolve_inputs`), each of a format this reads;
    raises InputError before anything is read (or any store is opened) when one is not."""
    paths = resolve_inputs(spec, any_name=fmt is not None)
    for path in paths:
        format_of(path, fmt)
    return paths


def raw_columns(path: str | Path, *, fmt: str | None = None) -> list[str]:
    """The raw column names a log file offers, whatever its format.

    Parameters
    ----------
    path : str or Path
        One log file.
    fmt : {"csv", "jsonl", "parquet"}, optional
        Its format, when its name does not say it.

    Returns
    -------
    list of str
        CSV: the header's names (none for an empty file). JSON Lines: the keys the first
        objects use, nested ones as dotted paths (``actor.user.uid``, ``resources[0].uid``).
        Parquet: the schema's names.

    Raises
    ------
    InputError
        An unknown format, or a file that cannot be read.
    """
    path = Path(path)
    return FORMATS[format_of(path, fmt)].raw_columns(path)


def format_of(path: Path, fmt: str | None) -> str:
    """The format to read ``path`` as: ``fmt`` when given, else what its name implies."""
    if fmt is None:
        fmt = detect_format(path)
        if fmt is None:
            raise InputError(
                "cannot tell the format from the file name; name it .csv, .jsonl or .parquet (optionally .gz), or give the format",
                file=str(path),
            )
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}", file=str(path))
    return fmt
