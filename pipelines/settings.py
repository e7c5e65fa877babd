"""Where settings come from: flag > environment variable > config file > default.

Reads ``insiderwatch.toml`` (or the file given with --config) and INSIDERWATCH_DB; the
detector package never reads either.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from detector.config import DEFAULT_DB, Config, from_dict
from detector.errors import UsageError

DEFAULT_CONFIG = Path("insiderwatch.toml")
DB_ENV = "INSIDERWATCH_DB"


def load_config(path: str | Path | None) -> Config:
    """The config at ``path``; ``insiderwatch.toml`` in the working directory when present;
    else the defaults."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return Config()
        path = DEFAULT_CONFIG
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return from_dict(data, origin=str(path))


def database_url(flag: str | None, config: Config) -> str:
    """--db, else INSIDERWATCH_DB, else the config's [store] db, else the SQLite default."""
    return flag or os.environ.get(DB_ENV) or config.db or DEFAULT_DB
