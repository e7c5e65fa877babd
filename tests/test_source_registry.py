"""Contract tests over the source format registry and the ColumnMapping Protocol.

Every format module is registered and readable; ``raw_columns`` lists a file's raw names in
each format; both mapping kinds meet one Protocol and every reader takes either; the
missing-column error has one wording per mapping kind, built in one place.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pandas as pd
import pytest

from detector import sources
from detector.errors import InputError
from detector.mapping import FileMapping, builtin_mappings, load_mapping, parse_mapping
from detector.sources import ColumnMapping, Mapping
from tests.test_sources import HEADER, ROWS, WRITERS, csv_bytes, expected_events, jsonl_bytes, write, write_parquet, write_rows


# --- the registry ---------------------------------------------------------------------------
def _format_modules() -> dict[str, object]:
    """Modules of detector.sources that define a reader (``read_<module>``) and ``raw_columns``."""
    found = {}
    for info in pkgutil.iter_modules(sources.__path__):
        module = importlib.import_module(f"detector.sources.{info.name}")
        if inspect.isfunction(getattr(module, f"read_{info.name}", None)) and inspect.isfunction(getattr(module, "raw_columns", None)):
            found[info.name] = module
    return found


def test_every_format_module_is_registered_with_its_reader_and_raw_columns():
    modules = _format_modules()
    assert set(modules) == set(sources.FORMATS) == {"csv", "jsonl", "parquet"}
    for name, module in modules.items():
        entry = sources.FORMATS[name]
        assert entry.name == name
        assert entry.read is getattr(module, f"read_{name}")
        assert entry.raw_columns is module.raw_columns


@pytest.mark.parametrize("fmt", sorted(sources.FORMATS))
def test_every_registered_format_is_readable_by_each_of_its_endings(tmp_path, fmt):
    entry = sources.FORMATS[fmt]
    assert entry.suffixes and {sources.EXTENSIONS[s] for s in entry.suffixes} == {fmt}
    for suffix in entry.suffixes:
        path = write_rows(tmp_path / f"events{suffix}", ROWS)
        assert sources.detect_format(path) == fmt
        report = sources.IngestReport()
        loaded = pd.concat([b.accepted for b in sources.read_file(path, report=report)], ignore_index=True)
        pd.testing.assert_frame_equal(loaded, expected_events())
        (stats,) = report.files
        assert (stats.format, stats.rows_read, stats.rows_accepted) == (fmt, len(ROWS), len(ROWS))
        assert stats.sha256 == sources.file_sha256(path)  # hashed while read, or after
        assert sources.raw_columns(path) == HEADER


def test_register_refuses_a_name_or_ending_taken():
    csv = sources.FORMATS["csv"]
    with pytest.raises(ValueError, match="registered twice"):
        sources.register(csv)
    with pytest.raises(ValueError, match="already means format 'csv'"):
        sources.register(sources.SourceFormat("other", (".csv",), csv.read, csv.raw_columns))
    assert set(sources.FORMATS) == set(WRITERS)


# --- raw_columns ------------------------------------------------------------------------------
def test_raw_columns_of_a_csv_is_its_header(tmp_path):
    assert sources.raw_columns(write(tmp_path / "a.csv.gz", b'\xef\xbb\xbfWhen,Who,"a,b"\n1,2,3\n')) == ["When", "Who", "a,b"]
    assert sources.raw_columns(write(tmp_path / "header.csv", b"x,y")) == ["x", "y"]
    assert sources.raw_columns(write(tmp_path / "empty.csv", b"")) == []


def test_raw_columns_of_json_lines_are_the_first_objects_keys_with_dotted_paths(tmp_path):
    lines = [
        b'{"@timestamp": "t", "user": {"id": "A1", "name": "x"}, "resources": [{"uid": "C1"}], "tags": ["a"]}',
        b"not json",
        b"[1, 2]",
        b'{"event.action": "viewed", "user": {"email": "e"}}',
    ]
    path = write(tmp_path / "a.jsonl.gz", b"\n".join(lines) + b"\n")
    assert sources.raw_columns(path) == ["@timestamp", "user", "user.id", "user.name", "resources", "resources[0].uid", "tags", "event.action", "user.email"]
    later = write(tmp_path / "b.ndjson", b"\n".join([b'{"a": 1}'] * 50 + [b'{"late": 1}']))
    assert sources.raw_columns(later) == ["a"]  # only the first objects are looked at
    assert sources.raw_columns(write(tmp_path / "c.jsonl", b"")) == []


def test_raw_columns_of_parquet_is_its_schema(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", [{"ts": "t", "user": "A1", "n": 3}])
    assert sources.raw_columns(path) == ["ts", "user", "n"]
    assert sources.raw_columns(path, fmt="parquet") == ["ts", "user", "n"]


def test_raw_columns_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(InputError, match="cannot tell the format"):
        sources.raw_columns(write(tmp_path / "a.txt", b"x,y\n"))
    assert sources.raw_columns(tmp_path / "a.txt", fmt="csv") == ["x", "y"]
    with pytest.raises(InputError, match="cannot read Parquet file"):
        sources.raw_columns(write(tmp_path / "bad.parquet", b"not parquet"))


# --- one Protocol for every mapping kind ---------------------------------------------------------
RENAME = {"when": "timestamp", "who": "agent_id", "whom": "customer_id", "what": "action"}
FILE_MAPPING = parse_mapping({"columns": {"timestamp": "when", "agent_id": "who", "customer_id": "whom", "action": "what"}}, default_name="plain")
RAW_ROWS = [{"when": r["timestamp"], "who": r["agent_id"], "whom": r["customer_id"], "what": r["action"]} for r in ROWS]


@pytest.mark.parametrize("mapping", [Mapping(), Mapping(rename=RENAME), FILE_MAPPING, *[load_mapping(n) for n in builtin_mappings()]], ids=repr)
def test_both_mapping_kinds_satisfy_the_protocol(mapping):
    assert isinstance(mapping, ColumnMapping)
    assert sources.as_mapping(mapping) is mapping
    assert isinstance(mapping.json_typed, bool) and mapping.fmt in (None, *sources.FORMATS)


def test_anything_else_is_not_a_column_mapping():
    assert not isinstance(RENAME, ColumnMapping) and not isinstance(None, ColumnMapping)
    assert sources.as_mapping(RENAME) == Mapping(rename=RENAME) and sources.as_mapping(None) == Mapping()


@pytest.mark.parametrize("name", ["raw.csv", "raw.csv.gz", "raw.jsonl", "raw.parquet"])
@pytest.mark.parametrize("mapping", [Mapping(rename=RENAME), FILE_MAPPING], ids=["rename", "file"])
def test_every_reader_works_with_either_mapping_kind(tmp_path, name, mapping):
    if name.endswith(".parquet"):
        path = write_parquet(tmp_path / name, RAW_ROWS)
    elif "csv" in name:
        path = write(tmp_path / name, csv_bytes(RAW_ROWS, header=list(RAW_ROWS[0])))
    else:
        path = write(tmp_path / name, jsonl_bytes(RAW_ROWS))
    loaded = sources.load_events(path, mapping=mapping)
    assert loaded.rejects.empty
    expected = expected_events([{k: r[k] for k in ("timestamp", "agent_id", "customer_id", "action")} for r in ROWS])
    pd.testing.assert_frame_equal(loaded.events, expected)


# --- the missing-column error ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a.csv", "a.jsonl", "a.parquet"])
def test_missing_column_wording_is_one_per_mapping_kind_in_every_format(tmp_path, name):
    rows = [{"when": r["when"], "who": r["who"]} for r in RAW_ROWS]
    path = write(tmp_path / name, csv_bytes(rows, header=["when", "who"])) if name.endswith(".csv") else write_rows(tmp_path / name, rows)
    with pytest.raises(InputError) as renamed:
        sources.load_events(path, mapping=Mapping(rename=RENAME))
    assert renamed.value.message == "missing required column 'customer_id' (and 'action'); columns found: when, who"
    with pytest.raises(InputError) as mapped:
        sources.load_events(path, mapping=FILE_MAPPING)
    assert mapped.value.message == "mapping 'plain' cannot supply required column 'customer_id' (nor 'action'): it reads whom; columns found: when, who"
    assert renamed.value.context == mapped.value.context == {"file": str(path), "column": "customer_id"}


def test_file_mapping_is_a_file_mapping():
    assert isinstance(FILE_MAPPING, FileMapping) and FILE_MAPPING.json_typed and not Mapping.json_typed
