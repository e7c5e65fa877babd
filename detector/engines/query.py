"""The sources a query engine reads where the logs are: files through Spark (a data lake's
Parquet or CSV, on this machine or a cluster) and a table through a SQL warehouse's own
engine (tested on PostgreSQL). Each gives the raw rows as an Ibis table of its engine, with
the file and row of each where the engine knows them; :mod:`detector.engines.relational`
validates, de-duplicates and counts them there.
"""

from __future__ import annotations

import logging
import secrets
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
QUERY_ENGINES = ("duckdb", "spark", "sql")
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
    #: whether the engine's planner needs the checks' stages fenced (PostgreSQL)
    fence = False
    #: local files read into this process's engine (DuckDB): already held as a table, every
    #: reject kept (as this process's reader keeps them), the files named by their digests
    #: rather than the source as given
    local_files = False

    #: the checked rows the engine holds for the run (:meth:`hold`), released on close
    held: ir.Table | None = None

    def raw(self) -> ir.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def day_engine(self) -> rel.DayEngine:
        """What holds each day's distinct rows and runs the counts (:func:`relational.count_day`)."""
        return rel.DayEngine()

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def hold(self, table: ir.Table) -> ir.Table:
        """``table`` computed once and held by the engine (Spark's cache, a warehouse's
        temporary table) until :meth:`release`: each count then reads the checked rows."""
        self.held = table.cache()
        return self.held

    def release(self) -> None:
        """Drop what :meth:`hold` holds (before the connection closes: Ibis would try later)."""
        if self.held is not None:
            held, self.held = self.held, None
            try:
                held.release()
            except Exception as exc:  # a connection already lost: nothing left to drop
                log.debug("could not release the held rows: %s", exc)

    def checked(self, mapping: Any, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None, progress: Any = None) -> ir.Table:
        """The :func:`relational.checked` rows; from a table, only those whose timestamp lies in
        [lo, hi) when the timestamp column is typed (an index or partition on it serves)."""
        rows = rel.canonical(self.raw(), mapping, engine=self.engine, source=self.name)
        if self.selects_days and rows[s.TIMESTAMP].type().is_timestamp() and (lo is not None or hi is not None):
            rows = _in_range(rows, lo, hi)
        return rel.checked(rows, nul=self.holds_nul, fence=self.fence)


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


# --- DuckDB over local files -------------------------------------------------------------------
#: the checked table's layout (relational.checked's columns, and the reader's raw text)
_CHECKED_TEXT = (*s.STRING_COLUMNS, rel.FILE, rel.REASON, *(f"raw_{c}" for c in s.EVENT_COLUMNS), rel.RAW_TEXT, rel.PRESENT)
_CHECKED_INT = (rel.US, rel.LINE)


class FileSource(QuerySource):
    """Local files read by DuckDB in this process: CSV (plain or gzip) and Parquet are read,
    checked and held by DuckDB (compressed, in a database file in the run's working
    directory, removed with it; within ``[engine] memory_limit``, spilling there); a file
    DuckDB's reader cannot read exactly as the reference reader does (JSON Lines; a CSV
    record it could not split, a value holding a line break, invalid UTF-8, blank lines or a
    byte-order mark before the header; an unreadable or corrupt file; a mapping feature
    DuckDB does not run) is read by the reference reader (:func:`detector.sources.read_file`)
    and its checked rows and rejects are handed to DuckDB. Either way every row is counted,
    and every rejected row is kept with its file, line and reason."""

    engine = "duckdb"
    local_files = True

    def __init__(self, spec: list[str], settings: EngineSettings, mapping: Any, tmp: Path) -> None:
        import ibis

        from detector.sources import check_inputs

        self.paths = check_inputs(spec)
        self.spec = list(spec)
        self.name = str(self.paths[0]) if len(self.paths) == 1 else f"{self.paths[0]} and {len(self.paths) - 1} more"
        self.mapping = mapping
        # insertion order kept: a CSV file's rows are numbered by their order in its table
        # the allocator's background threads give the memory a finished query freed back to
        # the system (without them DuckDB keeps it, hundreds of MB while the day is scored)
        config: dict[str, Any] = {"memory_limit": settings.memory_limit, "temp_directory": str(tmp / "duckdb"), "preserve_insertion_order": True, "allocator_background_threads": True}
        if settings.threads:
            config["threads"] = settings.threads
        # a database file in the run's working directory: the checked rows are written to it
        # compressed as they are inserted (a tenth of their size in memory, where a temporary
        # table holds them whole), and DuckDB reads back only the row groups a day needs
        (tmp / "duckdb").mkdir(parents=True, exist_ok=True)
        self.con = ibis.duckdb.connect(database=str(tmp / "duckdb" / "checked.duckdb"), **config)
        self.files = []
        #: files the reference reader read (their FileStats, with CSV line counts)
        self.stats: dict[str, Any] = {}
        #: why each file went to the reference reader
        self.fallback: dict[str, str] = {}
        columns = ", ".join([*(f'"{c}" VARCHAR' for c in _CHECKED_TEXT), *(f'"{c}" BIGINT' for c in _CHECKED_INT)])
        self._run(f"CREATE TABLE iw_checked ({columns})")
        self._table: ir.Table | None = None
        self._compiled: dict[tuple, str] = {}
        #: DuckDB's CSV reader reads this text as null: one no file holds (unguessable)
        self._no_null = "iw-no-null-" + secrets.token_hex(16)

    def raw(self) -> ir.Table:  # pragma: no cover - the files are read one by one (checked)
        raise NotImplementedError

    def day_engine(self) -> rel.DayEngine:
        return _DuckDBDay(self)

    def checked(self, mapping: Any = None, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None, progress: Any = None) -> ir.Table:
        """Every file read and checked into one DuckDB table (rows of other days are kept: the
        run counts them and sets them aside)."""
        if self._table is None:
            for i, path in enumerate(self.paths):
                why = self._by_duckdb(i, path)
                if why is not None:
                    self.fallback[str(path)] = why
                    log.info("%s: read by the reference reader (%s)", path, why)
                    self._by_reference(path)
                if progress is not None:
                    progress(path)
            self._table = self.con.table("iw_checked")
        return self._table

    def _by_duckdb(self, i: int, path: Path) -> str | None:
        """Read ``path`` into the checked table with DuckDB; None, or why it must be read by
        the reference reader instead (nothing of it is then left in the table)."""
        import duckdb

        from detector.sources import detect_format
        from detector.sources.csv import csv_header

        fmt = detect_format(path)
        literal = _sql_text(str(path))
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                names = pq.read_schema(path).names
                if len(set(names)) != len(names):
                    # DuckDB renames a repeated column; the reference refuses it if it is one of ours
                    return "a repeated column name"
                numbered = f"SELECT * EXCLUDE (filename, file_row_number), filename AS {rel.FILE}, file_row_number + 1 AS {rel.LINE}"
                self._run(f"CREATE OR REPLACE TEMP VIEW iw_raw AS {numbered} FROM read_parquet({literal}, filename = true, file_row_number = true)")
            elif fmt == "csv":
                header = csv_header(path)
                if header is None or not header[1]:
                    return "no rows after the header"
                names = header[0]
                if len(set(names)) != len(names) or not _starts_with_header(path):
                    return "a repeated column name, or something before the header"
                spec = "{" + ", ".join(_sql_text(n) + ": 'VARCHAR'" for n in names) + "}"
                # no text is read as null (an empty field is empty text, as the reference reads it)
                options = "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', strict_mode = true, null_padding = false"
                options += f", nullstr = {_sql_text(self._no_null)}, allow_quoted_nulls = false"
                rejects = f"store_rejects = true, rejects_table = 'iw_rejects_{i}', rejects_scan = 'iw_scans_{i}'"
                # read in order on one thread (a gzip stream cannot be split) into a table,
                # whose row ids are then the records' order; checked on every thread
                read = f"read_csv({literal}, columns = {spec}, {options}, {rejects}, filename = true)"
                self._run(f"CREATE OR REPLACE TEMP TABLE iw_file AS SELECT * EXCLUDE (filename), filename AS {rel.FILE} FROM {read}")
                self._run(f"CREATE OR REPLACE TEMP VIEW iw_raw AS SELECT *, rowid + 2 AS {rel.LINE} FROM iw_file")
                split = self._run(f"SELECT count(*) FROM iw_rejects_{i}")[0][0]
                # a value holding a line break: the two readers may have split records differently
                breaks = " OR ".join(f"contains({_sql_name(n)}, chr(13)) OR contains({_sql_name(n)}, chr(10))" for n in names)
                broken = self._run(f"SELECT count(*) FROM iw_file WHERE {breaks}")[0][0] if not split else 0
                if split or broken:
                    return f"{split:,} record(s) DuckDB's reader could not split" if split else f"{broken:,} value(s) holding a line break"
            else:
                return f"DuckDB reads CSV and Parquet here, not {fmt}"
            self._insert(str(path))
        except UsageError as exc:  # a mapping feature DuckDB does not run
            return str(exc)
        except duckdb.OutOfMemoryException:
            raise  # the run's memory limit, said as such (not a file to read another way)
        except duckdb.Error as exc:
            self._run(f"DELETE FROM iw_checked WHERE {rel.FILE} = {literal}")
            return f"DuckDB cannot read it: {str(exc).splitlines()[0]}"
        except InputError as exc:
            return str(exc)
        finally:
            self._run("DROP VIEW IF EXISTS iw_raw")
            self._run("DROP TABLE IF EXISTS iw_file")
        self.files.append(SourceFile(str(path), fmt, path.stat().st_size, file_sha256(path)))
        return None

    def _run(self, sql: str) -> list:
        """Run one statement on DuckDB's own connection, its result fetched."""
        return self.con.con.execute(sql).fetchall()

    def _insert(self, name: str) -> None:
        """Check ``iw_raw`` (one file's rows) into the checked table. The statement is
        compiled once per layout of the raw columns (compiling takes about a second)."""
        import ibis

        raw = self.con.table("iw_raw")
        key = tuple((c, str(raw[c].type())) for c in raw.columns)
        sql = self._compiled.get(key)
        if sql is None:
            table = rel.checked(rel.canonical(raw, self.mapping, engine=self.engine, source=name))
            exprs = {c: (table[c] if c in table.columns else ibis.null("string")) for c in _CHECKED_TEXT}
            exprs.update({c: (table[c].cast("int64") if c in table.columns else ibis.null("int64")) for c in _CHECKED_INT})
            sql = self._compiled[key] = str(ibis.to_sql(table.select(**exprs), dialect="duckdb"))
        self._run(f"INSERT INTO iw_checked BY NAME {sql}")

    def _by_reference(self, path: Path) -> None:
        """Read ``path`` with the reference reader; its checked rows and rejects into the table."""
        import pyarrow as pa

        from detector.sources import IngestReport, read_file

        report = IngestReport()
        for batch in read_file(path, mapping=self.mapping, report=report):
            good, bad = batch.accepted, batch.rejects
            tables = []
            if len(good):
                cols = {c: pa.array(good[c], type=pa.string(), from_pandas=True) for c in s.STRING_COLUMNS}
                cols[rel.US] = pa.array(good[s.TIMESTAMP].to_numpy(dtype="datetime64[us]").astype("int64"))
                cols[rel.FILE] = pa.array([str(path)] * len(good), pa.string())
                tables.append(pa.table(cols))
            if len(bad):
                cols = {
                    rel.FILE: pa.array(bad["source"].astype(str), pa.string()),
                    rel.LINE: pa.array(bad["line"].astype("int64")),
                    rel.REASON: pa.array(bad["reason"].astype(str), pa.string()),
                    rel.RAW_TEXT: pa.array(bad["raw"].astype(str), pa.string()),
                }
                tables.append(pa.table(cols))
            for table in tables:  # the columns not named are null
                self.con.con.register("iw_batch", table)
                try:
                    self._run("INSERT INTO iw_checked BY NAME SELECT * FROM iw_batch")
                finally:
                    self.con.con.unregister("iw_batch")
        for stats in report.files:
            self.stats[str(stats.path)] = stats
            self.files.append(SourceFile(str(stats.path), stats.format, stats.size_bytes, stats.sha256))

    def close(self) -> None:
        self.con.disconnect()


class _DuckDBDay(rel.DayEngine):
    """A day of :class:`FileSource`'s checked rows, counted by statements compiled once for
    every day: the day's distinct rows are held in one table, ``iw_day``, with ``us`` taken
    from the day's start, so that each count's expression, and its SQL, is the same every
    day (compiling them all takes about a third of a second, once per day otherwise)."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self._compiled: dict[Any, tuple[str, Any]] = {}

    def hold_day(self, table: ir.Table, day: str) -> tuple[ir.Table, int, int]:
        start = int(pd.Timestamp(day, tz="UTC").value // 1000)
        where = f"{_sql_name(rel.REASON)} IS NULL AND {_sql_name(rel.US)} >= {start} AND {_sql_name(rel.US)} < {start + rel._US_PER_DAY}"
        n_rows = self.source._run(f"SELECT count(*) FROM iw_checked WHERE {where}")[0][0]
        columns = ", ".join(_sql_name(c) for c in s.STRING_COLUMNS)
        self.source._run(f"CREATE OR REPLACE TABLE iw_day AS SELECT DISTINCT {columns}, {_sql_name(rel.US)} - {start} AS {_sql_name(rel.US)} FROM iw_checked WHERE {where}")
        return self.source.con.table("iw_day"), int(n_rows), start

    def release_day(self, distinct: ir.Table) -> None:
        self.source._run("DROP TABLE IF EXISTS iw_day")

    def _sql(self, expr: ir.Expr) -> tuple[str, Any]:
        table = expr.as_table()
        key = table.op()
        if key not in self._compiled:
            self._compiled[key] = (str(self.source.con.compile(table)), table.schema().to_pyarrow())
        return self._compiled[key]

    def run(self, expr: ir.Expr) -> Any:
        sql, schema = self._sql(expr)
        return self.source.con.con.sql(sql).to_arrow_table().cast(schema)

    def batches(self, expr: ir.Table) -> Any:
        from detector.engines import HASH_CHUNK

        sql, _ = self._sql(expr)
        return self.source.con.con.sql(sql).to_arrow_reader(HASH_CHUNK)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_name(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _starts_with_header(path: Path) -> bool:
    """Whether the file's first bytes are its header (no byte-order mark, no blank lines
    before it: DuckDB would take a blank line for the header)."""
    import gzip

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        first = fh.read(4)
    return bool(first) and not first.startswith((b"\xef\xbb\xbf", b"\r", b"\n"))


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

    def checked(self, mapping: Any, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None, progress: Any = None) -> ir.Table:
        table = super().checked(mapping, lo, hi)
        return table.mutate(**{rel.FILE: table[rel.FILE].re_replace("^file:", "")})

    def close(self) -> None:
        self.release()
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
        self.fence = self.con.name == "postgres"
        self.files = [SourceFile(self.name, "table", None, None)]
        self.version = getattr(self.con, "version", "")

    def raw(self) -> ir.Table:
        return self._table

    def close(self) -> None:
        self.release()
        self.con.disconnect()


def open_source(settings: EngineSettings, spec: list[str], *, mapping: Any = None, tmp: Path | None = None) -> QuerySource:
    """The configured query engine's source of ``spec`` (``--events``); DuckDB spills to
    ``tmp``, and reads ``mapping`` (the reader mapping) itself."""
    if settings.name == "duckdb":
        if tmp is None:
            raise ValueError("the duckdb engine needs a working directory")
        return FileSource(spec, settings, mapping, tmp)
    if settings.name == "spark":
        return SparkSource(spec, settings)
    if settings.name == "sql":
        if len(spec) != 1:
            raise UsageError("the sql engine reads one table: --events 'URL#[schema.]table'")
        return SqlSource(spec[0])
    raise UsageError(f"{settings.name!r} is not a query engine ({', '.join(QUERY_ENGINES)})")
