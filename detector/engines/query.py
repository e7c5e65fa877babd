"""The sources a query engine reads where the logs are: files through Spark (a data lake's
Parquet or CSV, on this machine or a cluster) and a table through a SQL warehouse's own
engine (tested on PostgreSQL). Each gives the raw rows as an Ibis table of its engine, with
the file and row of each where the engine knows them; :mod:`detector.engines.relational`
validates, de-duplicates and counts them there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from detector import schema as s
from detector.engines import relational as rel
from detector.errors import InputError, UsageError
from detector.sources import file_sha256

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from detector.config import EngineSettings

log = logging.getLogger("insiderwatch.engines")

#: the engines that read the sources themselves (the others count events this process read)
QUERY_ENGINES = ("spark", "sql")
#: the column Spark fills with the text of a CSV record it could not split into the header's fields
_CORRUPT = "_corrupt_record"
_CORRUPT_REASON = "malformed CSV record (wrong field count or unclosed quote)"


@dataclass
class SourceFile:
    """A file a query engine read, for the run manifest."""

    path: str
    format: str
    size_bytes: int | None
    sha256: str | None


class QuerySource:
    """Raw rows in a query engine, ready for :func:`relational.checked`."""

    engine = ""
    name = ""
    files: list[SourceFile]
    #: the source as a run records it (and verify reads it again)
    spec: list[str]
    #: whether the run's days are selected in the source (a table: rows outside them are
    #: not read) rather than read and set aside (files, as this process reads them)
    selects_days = False
    #: whether the engine's text can hold a NUL (checked for then)
    holds_nul = True

    def raw(self) -> ir.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def checked(self, mapping: Any, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> ir.Table:
        """The :func:`relational.checked` rows; from a table, only those whose timestamp lies in
        [lo, hi) when the timestamp column is typed (an index or partition on it serves)."""
        rows = rel.canonical(self.raw(), mapping, engine=self.engine, source=self.name)
        if self.selects_days and rows[s.TIMESTAMP].type().is_timestamp() and (lo is not None or hi is not None):
            rows = _in_range(rows, lo, hi)
        return rel.checked(rows, nul=self.holds_nul)


def _in_range(rows: ir.Table, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> ir.Table:
    import ibis

    ts = rows[s.TIMESTAMP]
    zone = ts.type().timezone
    cond = None
    for bound, op in ((lo, "ge"), (hi, "lt")):
        if bound is None:
            continue
        value = bound.tz_convert("UTC")
        lit = ibis.literal(value.to_pydatetime() if zone else value.tz_localize(None).to_pydatetime(), ts.type())
        c = ts >= lit if op == "ge" else ts < lit
        cond = c if cond is None else cond & c
    return rows.filter(cond)


# --- Spark ---------------------------------------------------------------------------------------
def _format_of(path: str) -> str:
    name = path.lower().rstrip("/")
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        return "jsonl"
    return "parquet"


class SparkSource(QuerySource):
    """Parquet or CSV paths (local, or any URI the cluster reads: ``s3a://``, ``hdfs://``,
    ``abfss://``; directories of partitioned Parquet too), read by Spark. Only per-agent
    counts, the touched pairs and the flagged agents' evidence come back to this process."""

    engine = "spark"

    def __init__(self, paths: list[str], settings: EngineSettings) -> None:
        try:
            import ibis
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - the spark extra is not installed
            raise UsageError("the spark engine needs pyspark: pip install 'insiderwatch[spark]' (and Java 17)") from exc
        formats = {_format_of(p) for p in paths}
        if len(formats) > 1:
            raise UsageError(f"the spark engine reads one format at a time; given {', '.join(sorted(formats))}")
        self.format = formats.pop()
        if self.format == "jsonl":
            raise UsageError("the spark engine reads Parquet or CSV; read JSON Lines with the python or duckdb engine")
        builder = SparkSession.builder.master(settings.spark_master).appName("insiderwatch")
        builder = builder.config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        builder = builder.config("spark.driver.memory", settings.spark_memory).config("spark.sql.shuffle.partitions", str(settings.spark_partitions))
        self.spark = builder.getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        self.paths = [_spark_path(p) for p in paths]
        self.name = paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"
        self.spec = list(paths)
        reader = self.spark.read
        try:
            if self.format == "parquet":
                df = reader.parquet(*self.paths).select("*", "_metadata.file_path", "_metadata.row_index")
                df = df.withColumnRenamed("file_path", rel.FILE).withColumn(rel.LINE, df["row_index"] + 1).drop("row_index")
            else:
                df = self._csv()
        except Exception as exc:  # AnalysisException: path not found, unreadable file
            raise InputError(f"Spark cannot read the events: {str(exc).splitlines()[0]}", file=self.name) from exc
        # every timestamp column with its microseconds beside it (relational.MICROS_SUFFIX)
        from pyspark.sql import functions as F
        from pyspark.sql.types import TimestampNTZType, TimestampType

        for f in df.schema.fields:
            if isinstance(f.dataType, TimestampType | TimestampNTZType):
                df = df.withColumn(f"{f.name}{rel.MICROS_SUFFIX}", F.unix_micros(F.col(f"`{f.name}`").cast("timestamp")))
        self._view = "iw_raw_events"
        df.createOrReplaceTempView(self._view)
        self.con = ibis.pyspark.connect(self.spark)
        self._columns = df.columns
        self.files = [_local_file(p, self.format) for p in paths]

    def _csv(self) -> Any:
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        header = self.spark.read.option("header", True).csv(self.paths).columns
        schema = StructType([StructField(c, StringType()) for c in header] + [StructField(_CORRUPT, StringType())])
        df = (
            self.spark.read.schema(schema)
            .option("header", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", _CORRUPT)
            .option("multiLine", True)
            .csv(self.paths)
            .select("*", "_metadata.file_path")
        )
        # the CSV reader knows no line numbers: 0 stands for "not known" in the rejects
        df = df.withColumnRenamed("file_path", rel.FILE).withColumn(rel.LINE, F.lit(0).cast("long"))
        df = df.withColumn(rel.PROBLEM, F.when(F.col(_CORRUPT).isNotNull(), F.lit(_CORRUPT_REASON)))
        return df.withColumnRenamed(_CORRUPT, rel.RAW_TEXT)

    def raw(self) -> ir.Table:
        return self.con.table(self._view)

    def checked(self, mapping: Any, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> ir.Table:
        table = super().checked(mapping, lo, hi)
        return table.mutate(**{rel.FILE: table[rel.FILE].re_replace("^file:", "")})

    def close(self) -> None:
        self.spark.catalog.dropTempView(self._view)


def _spark_path(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _local_file(path: str, fmt: str) -> SourceFile:
    p = Path(path)
    if "://" in path or not p.is_file():
        return SourceFile(path, fmt, None, None)  # a directory or a remote object: named, not hashed
    return SourceFile(str(p), fmt, p.stat().st_size, file_sha256(p))


# --- a SQL warehouse table -----------------------------------------------------------------------
def split_table_url(spec: str) -> tuple[str, str]:
    """``URL#[schema.]table`` -> (URL, table), refused with a usage error otherwise."""
    url, sep, table = spec.partition("#")
    if not sep or not table or "://" not in url:
        raise UsageError(f"the sql engine reads a table given as URL#[schema.]table (e.g. 'postgresql+psycopg://user@host/db#public.access_log'), not {spec!r}")
    return url, table


def redacted(url: str) -> str:
    """The URL without its password, as runs record it (and verify reconnects with it: the
    driver then takes the password from its own environment, PGPASSWORD or ~/.pgpass)."""
    from sqlalchemy.engine import make_url

    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


class SqlSource(QuerySource):
    """A table in a SQL warehouse, read by the warehouse's own engine through Ibis: the day's
    rows are selected on the timestamp column (when it is typed) and only counts come back."""

    engine = "sql"

    def __init__(self, spec: str) -> None:
        import ibis
        from sqlalchemy.engine import make_url

        url, table = split_table_url(spec)
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        try:
            if backend == "postgresql":
                self.con = ibis.postgres.connect(host=parsed.host or "localhost", port=parsed.port or 5432, user=parsed.username, password=parsed.password, database=parsed.database)
            else:  # the warehouses Ibis knows by URL (snowflake://, bigquery://, trino://, mssql://...)
                self.con = ibis.connect(parsed.set(drivername=backend).render_as_string(hide_password=False))
        except Exception as exc:
            raise InputError(f"cannot connect to {redacted(url)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        schema_name, _, table_name = table.rpartition(".")
        try:
            self._table = self.con.table(table_name, database=schema_name or None)
        except Exception as exc:
            raise InputError(f"no table {table!r} in {redacted(url)}: {str(exc).splitlines()[0]}") from exc
        self.name = f"{redacted(url)}#{table}"
        self.spec = [self.name]
        self.selects_days = True
        self.holds_nul = self.con.name != "postgres"  # PostgreSQL's text holds none, nor can its SQL name one
        self.files = [SourceFile(self.name, "table", None, None)]
        self.version = getattr(self.con, "version", "")

    def raw(self) -> ir.Table:
        return self._table

    def close(self) -> None:
        self.con.disconnect()


def open_source(settings: EngineSettings, spec: list[str]) -> QuerySource:
    """The configured query engine's source of ``spec`` (``--events``)."""
    if settings.name == "spark":
        return SparkSource(spec, settings)
    if settings.name == "sql":
        if len(spec) != 1:
            raise UsageError("the sql engine reads one table: --events 'URL#[schema.]table'")
        return SqlSource(spec[0])
    raise UsageError(f"{settings.name!r} is not a query engine ({', '.join(QUERY_ENGINES)})")
