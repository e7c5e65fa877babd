"""Everything tunable, as one validated value.

Built from a plain dict (what ``tomllib`` gives for ``insiderwatch.toml``); unknown keys and
wrong types are errors naming the key, so a typo never silently falls back to a default.
Reading the file and the environment is the pipelines' job, not this module's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from detector import __version__
from detector.alerts import AlertSettings
from detector.errors import UsageError
from detector.features import FAMILIES, METRICS, FeatureSettings
from detector.model import DETECTORS, ModelSettings

DEFAULT_DB = "sqlite:///insiderwatch.db"


@dataclass(frozen=True)
class SourceSettings:
    """events : default input (file, directory or glob) when a command is given none
    roster : default roster CSV
    rename : raw column name -> canonical column name, applied when reading
    mapping : a mapping file, or a built-in mapping's name (see ``insiderwatch
        validate-logs --list-mappings``), applied when reading; not with ``rename``
    lookup : the lookup table CSV the mapping joins (overrides its ``[lookup] path``)
    mapping_sha256, lookup_sha256 : digests filled in when a command resolves the mapping;
        recorded with the run so that ``verify`` reads the same mapping or says it changed
    max_replay_days : widest span of days (first event to last) a replay scores without
        --from and --to; wider inputs are refused naming the outlying days (a far-off
        timestamp must not turn a replay into decades of days)
    """

    events: str | None = None
    roster: str | None = None
    rename: dict = field(default_factory=dict)
    mapping: str = ""
    lookup: str = ""
    mapping_sha256: str = ""
    lookup_sha256: str = ""
    max_replay_days: int = 400

    def resolved(self, mapping: str | None = None, lookup: str | None = None) -> SourceSettings:
        """These settings with --mapping / --lookup applied and the files' digests recorded.

        Loads the mapping (and table) once, so a bad one fails before anything is read.
        """
        from detector.mapping import load_mapping, resolve_mapping

        name = mapping or self.mapping
        table = lookup or self.lookup
        if not name:
            if table:
                raise UsageError("--lookup needs a mapping that joins it (--mapping)")
            return self
        if self.rename:
            raise UsageError("give a mapping or [sources.rename], not both (a mapping file can rename too)")
        recorded, _ = resolve_mapping(name)
        table = str(Path(table).resolve()) if table else ""
        loaded = load_mapping(recorded, lookup=table or None)
        return dataclasses.replace(
            self,
            mapping=recorded,
            lookup=table or (str(loaded.lookup.path.resolve()) if loaded.lookup is not None else ""),
            mapping_sha256=loaded.sha256,
            lookup_sha256=loaded.lookup.sha256 if loaded.lookup is not None else "",
        )

    def reader_mapping(self):
        """What the sources apply: the mapping file (checked against its recorded digests),
        else the ``rename`` dict, else None (canonical files)."""
        if not self.mapping:
            return self.rename or None
        from detector.mapping import load_mapping

        return load_mapping(
            self.mapping,
            lookup=self.lookup or None,
            expect_sha256=self.mapping_sha256 or None,
            expect_lookup_sha256=self.lookup_sha256 or None,
        )


@dataclass(frozen=True)
class ReportSettings:
    """pseudonym_key : secret for the keyed hash (HMAC-SHA256) that stands for customer ids
        in reports; else $INSIDERWATCH_PSEUDONYM_KEY; with neither, a random key per report
        (pseudonyms then differ between reports). Never written to a report or the store.
    history_days : days of history drawn before the first reported day
    evidence_rows : accessed records listed per flagged agent-day on its page
    file_mode : permissions (octal, e.g. "0640") of the files that hold personal data:
        report pages (their directory gets the matching search bits), exports, rejects.
        The owner must be able to read and write; others may not write.
    """

    pseudonym_key: str = ""
    history_days: int = 60
    evidence_rows: int = 500
    file_mode: str = "0600"

    @property
    def file_mode_bits(self) -> int:
        """``file_mode`` as a number (validated by :func:`from_dict`)."""
        return _file_mode(self.file_mode)


@dataclass(frozen=True)
class EngineSettings:
    """name : what reads and counts the day's events into agent-days (:mod:`detector.engines`):
        "python" (the reference, in this process), "duckdb" (DuckDB reads the local files,
        checks and counts them in this process, through the same Ibis expressions), "spark" (Spark reads the files, validates,
        de-duplicates and counts where they are) or "sql" (a warehouse table, counted by the
        warehouse); every one gives the same agent-days
    memory_limit : the most memory DuckDB holds before spilling to disk (DuckDB's syntax)
    threads : DuckDB's threads (0: one per core)
    spark_master : where Spark runs: "local[*]" (this machine, every core) or a cluster's
        master URL ("spark://host:7077", "yarn", "k8s://...")
    spark_memory : the Spark driver's memory (its JVM's heap; in local mode, all of Spark's)
    spark_partitions : Spark's shuffle partitions (spark.sql.shuffle.partitions)
    """

    name: str = "duckdb"
    memory_limit: str = "768MB"
    threads: int = 0
    spark_master: str = "local[*]"
    spark_memory: str = "2g"
    spark_partitions: int = 8


@dataclass(frozen=True)
class ConsoleSettings:
    """The investigators' console (insiderwatch serve).

    trusted_header : single sign-on behind a proxy: the request header in which the proxy
        puts the signed-in user's name (e.g. "X-Remote-User"); "" (the default): off, users
        sign in with their password. The user must exist in the console's users (their role
        is theirs there) and not be disabled.
    trusted_proxies : the addresses the trusted header is believed from (the proxy's, as
        the console sees them); required with ``trusted_header``, which is refused without
        them: from anyone else the header is ignored (anyone could send it)
    """

    trusted_header: str = ""
    trusted_proxies: tuple = ()


@dataclass(frozen=True)
class Config:
    db: str | None = None
    #: tries at opening a database server's store (PostgreSQL...) before giving up, waiting
    #: ``connect_wait`` seconds after the first failure, doubling after each; a SQLite file
    #: is tried once (a locked one is waited for by SQLite itself, up to 30 s)
    connect_attempts: int = 3
    connect_wait: float = 2.0
    sources: SourceSettings = SourceSettings()
    features: FeatureSettings = FeatureSettings()
    model: ModelSettings = ModelSettings()
    alerts: AlertSettings = AlertSettings()
    report: ReportSettings = ReportSettings()
    engine: EngineSettings = EngineSettings()
    console: ConsoleSettings = ConsoleSettings()
    #: accessed records kept as evidence per flagged agent-day
    evidence_limit: int = 5000

    @property
    def detector_version(self) -> str:
        """Part of every alert's identity: the code version and the detector used."""
        return f"insiderwatch-{__version__}/{self.model.name}"

    def to_dict(self) -> dict:
        """The settings as plain data, secrets redacted (this is what runs and reports record)."""
        out = dataclasses.asdict(self)
        if out["report"]["pseudonym_key"]:
            out["report"]["pseudonym_key"] = "(set, redacted)"
        return out


_SECTIONS = {"sources": SourceSettings, "features": FeatureSettings, "model": ModelSettings, "alerts": AlertSettings, "report": ReportSettings, "engine": EngineSettings, "console": ConsoleSettings}


def from_dict(data: dict, *, origin: str = "config") -> Config:
    """Validate a config dict (TOML layout: ``[store] db``, ``[sources]``, ``[features]``,
    ``[model]`` with ``[model.params]``, ``[alerts]``, ``[report]``, ``[engine]``, top-level
    ``evidence_limit``)."""
    data = dict(data or {})
    kwargs: dict = {}
    store = data.pop("store", {})
    if not isinstance(store, dict) or set(store) - {"db", "connect_attempts", "connect_wait"}:
        raise UsageError(f"[store] takes only 'db', 'connect_attempts' and 'connect_wait' ({origin})")
    if "db" in store:
        kwargs["db"] = _typed(store["db"], str, "store.db", origin)
    if "connect_attempts" in store:
        kwargs["connect_attempts"] = _typed(store["connect_attempts"], int, "store.connect_attempts", origin)
        if kwargs["connect_attempts"] < 1:
            raise UsageError(f"store.connect_attempts must be at least 1 ({origin})")
    if "connect_wait" in store:
        kwargs["connect_wait"] = _typed(store["connect_wait"], float, "store.connect_wait", origin)
        if kwargs["connect_wait"] < 0:
            raise UsageError(f"store.connect_wait must not be negative ({origin})")
    if "evidence_limit" in data:
        kwargs["evidence_limit"] = _typed(data.pop("evidence_limit"), int, "evidence_limit", origin)
    for section, cls in _SECTIONS.items():
        values = data.pop(section, {})
        if not isinstance(values, dict):
            raise UsageError(f"[{section}] must be a table ({origin})")
        known = {f.name: f for f in dataclasses.fields(cls)}
        args = {}
        for key, value in values.items():
            if key not in known or key == "detector_version":
                raise UsageError(f"unknown setting {section}.{key} ({origin}); known: {', '.join(sorted(k for k in known if k != 'detector_version'))}")
            default = getattr(cls(), key)
            args[key] = value if default is None else _typed(value, type(default), f"{section}.{key}", origin)
        kwargs[section] = cls(**args)
    if data:
        raise UsageError(f"unknown setting {sorted(data)[0]!r} ({origin})")
    config = Config(**kwargs)
    if config.model.name not in DETECTORS:
        raise UsageError(f"unknown model.name {config.model.name!r} ({origin}); choose one of {', '.join(sorted(DETECTORS))}")
    if config.console.trusted_header and not config.console.trusted_proxies:
        raise UsageError(f"console.trusted_header is set without console.trusted_proxies ({origin}): name the proxy's address, or anyone could send the header and sign in as anyone")
    if not 0 < config.alerts.budget_fraction <= 1:
        raise UsageError(f"alerts.budget_fraction must be in (0, 1] ({origin})")
    unknown = [n for n in config.features.leave_out if n not in FAMILIES and n not in METRICS]
    if unknown:
        raise UsageError(f"features.leave_out: unknown family or metric {unknown[0]!r} ({origin}); families: {', '.join(FAMILIES)}")
    if config.features.window < 3 or config.features.lag < 0:
        raise UsageError(f"features.window must be at least 3 and features.lag not negative ({origin})")
    f = config.features
    if not all(isinstance(w, int) and not isinstance(w, bool) and 2 <= w <= 60 for w in f.windows) or f.reference_days < f.min_history or f.freeze_above < 0:
        raise UsageError(f"features.windows must be whole numbers of days from 2 to 60, features.reference_days at least features.min_history and features.freeze_above not negative ({origin})")
    from detector.engines import ENGINE_NAMES

    if config.engine.name not in ENGINE_NAMES:
        raise UsageError(f"unknown engine.name {config.engine.name!r} ({origin}); choose one of {', '.join(ENGINE_NAMES)}")
    if config.engine.spark_partitions < 1:
        raise UsageError(f"engine.spark_partitions must be at least 1 ({origin})")
    if config.engine.threads < 0:
        raise UsageError(f"engine.threads must not be negative ({origin})")
    if config.sources.max_replay_days < 1:
        raise UsageError(f"sources.max_replay_days must be at least 1 ({origin})")
    try:
        mode = _file_mode(config.report.file_mode)
    except ValueError:
        raise UsageError(f'report.file_mode must be an octal mode such as "0600" or "0640", got {config.report.file_mode!r} ({origin})') from None
    if mode & 0o600 != 0o600 or mode & 0o002:
        raise UsageError(f"report.file_mode {config.report.file_mode!r} must let the owner read and write and not let others write ({origin})")
    return config


def _file_mode(text: str) -> int:
    digits = text.strip().removeprefix("0o")
    if not 3 <= len(digits) <= 4 or any(c not in "01234567" for c in digits) or int(digits, 8) > 0o777:
        raise ValueError(text)
    return int(digits, 8)


def _typed(value, kind, key: str, origin: str):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is dict and isinstance(value, dict):
        return dict(value)
    if kind is tuple and isinstance(value, list | tuple) and (all(isinstance(v, str) for v in value) or all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"{key} must be {kind.__name__}, got {value!r} ({origin})")
    return value
