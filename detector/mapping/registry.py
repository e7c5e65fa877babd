"""The mappings shipped with insiderwatch (``detector/mappings/*.toml``, package data), and
resolving a mapping name or path to its file. Reads a file only when asked, never at import.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from detector.errors import UsageError

#: where the built-in mappings live (package data)
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "mappings"


def builtin_mappings() -> dict[str, Path]:
    """Name -> file of every mapping shipped with insiderwatch, sorted by name."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def builtin_descriptions() -> dict[str, str]:
    """Name -> one-line description of every built-in mapping."""
    out = {}
    for name, path in builtin_mappings().items():
        try:
            out[name] = str(tomllib.loads(path.read_text(encoding="utf-8")).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError):
            out[name] = ""
    return out


def resolve_mapping(name_or_path: str) -> tuple[str, Path]:
    """(what to record, file) for a built-in name or a mapping file path.

    A built-in is recorded by its name, a file by its absolute path, so a later ``verify``
    reads the same mapping from any working directory.
    """
    builtins = builtin_mappings()
    if name_or_path in builtins:
        return name_or_path, builtins[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return str(path.resolve()), path.resolve()
    raise UsageError(f"no mapping {name_or_path!r}: neither a built-in mapping ({', '.join(builtins)}) nor a file")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a (small) file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
