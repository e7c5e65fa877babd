"""JSON Lines through Arrow's JSON reader: the fast path for groups of clean lines.

:func:`jsonl_fast` reads top-level keys as text (a rename mapping); :func:`jsonl_typed`
reads a mapping file's nested paths with the types the first objects give them. Both
return None for anything they cannot read exactly as the line-by-line path in
:mod:`detector.sources.jsonl` would, which then takes the group. Never rejects a row and
never names a field itself.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from detector import schema
from detector.sources.arrow import to_pandas
from detector.sources.jsonpath import get_path, path_segments


def jsonl_fast(data: bytes, rows: int, selected: dict[str, str]) -> pd.DataFrame | None:
    """Arrow's JSON reader, when the lines are clean: UTF-8, one object each, plain types.

    Returns None (so the caller parses line by line) on anything else; both paths give the
    same frame for the lines this one accepts.
    """
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=schema.STRING_DTYPE) for c in selected})
    if not data.isascii():  # Arrow's JSON reader does not check UTF-8
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    raw_names = list(dict.fromkeys(selected.values()))
    for timestamp_type in (pa.string(), pa.float64()):  # ISO strings, or epoch numbers
        types = {raw: pa.string() for raw in raw_names}
        types[selected[schema.TIMESTAMP]] = timestamp_type
        try:
            table = pa_json.read_json(
                pa.BufferReader(data),
                read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) // 8 + 1)),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=pa.schema(list(types.items())),
                    unexpected_field_behavior="ignore",
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if table.num_rows != rows:  # several objects on a line, or a blank line of spaces
            return None
        return pd.DataFrame({c: to_pandas(table.column(raw)) for c, raw in selected.items()})
    return None


def jsonl_typed(data: bytes, rows: int, selected: dict[str, str]) -> pd.DataFrame | None:
    """Arrow's JSON reader for a mapping file's fields: nested paths, values of any type.

    The schema is built from the types the first objects give each path (strings stay
    strings, so Arrow never re-reads a timestamp); a block whose types drift, holds an
    empty array where an element is wanted or a nested value where text is, returns None
    and is parsed line by line, which gives the same text.
    """
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=schema.STRING_DTYPE) for c in selected})
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    samples = []
    for line in data.split(b"\n", 20)[:20]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            samples.append(obj)

    def forms(raw: str) -> list[tuple[str | int, ...]]:
        # a dotted path may be a literal key ("user.id") or nested objects, even line by line
        segments = path_segments(raw)
        return [(raw,)] + ([segments] if len(segments) > 1 else [])

    # path segment (a key, or ("[]", index) for an array element) -> leaf type or subtree
    tree: dict[str | tuple[str, int], Any] = {}
    for raw in dict.fromkeys(selected.values()):
        sample = next((v for obj in samples if (v := get_path(obj, raw)) is not None), None)
        leaf = _arrow_type(sample)
        if leaf is None:
            return None
        for segments in forms(raw):
            node = tree
            for i, segment in enumerate(segments):
                last = i == len(segments) - 1
                name = ("[]", segment) if isinstance(segment, int) else segment
                if last:
                    if name in node and node[name] != leaf:
                        return None
                    node[name] = leaf
                else:
                    node = node.setdefault(name, {})
                    if not isinstance(node, dict):
                        return None
    try:
        arrow_schema = pa.schema([(name, _tree_type(sub)) for name, sub in tree.items()])
        table = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) // 8 + 1)),
            parse_options=pa_json.ParseOptions(explicit_schema=arrow_schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    if table.num_rows != rows:
        return None
    out = {}
    try:
        for key, raw in selected.items():
            found = []
            for segments in forms(raw):
                column = table.column(segments[0]).combine_chunks()
                for segment in segments[1:]:
                    if isinstance(segment, int):
                        column = pc.list_element(column, segment)
                    else:
                        column = pc.struct_field(column, segment)
                found.append(column)
            out[key] = _typed_text(pc.coalesce(*found) if len(found) > 1 else found[0])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, IndexError):
        return None
    return pd.DataFrame(out)


def _arrow_type(sample: Any) -> pa.DataType | None:
    if sample is None or isinstance(sample, str):
        return pa.string()
    if isinstance(sample, bool):
        return pa.bool_()
    if isinstance(sample, int):
        return pa.int64()
    if isinstance(sample, float):
        return pa.float64()
    return None  # a nested value where text is wanted: the line-by-line path writes it as JSON


def _tree_type(node: pa.DataType | dict[str | tuple[str, int], Any]) -> pa.DataType:
    if isinstance(node, pa.DataType):
        return node
    items = list(node.items())
    if items and isinstance(items[0][0], tuple):  # an array: its element type
        (_, _), element = items[0]
        if len(items) > 1:
            raise TypeError("two element paths of one array")
        return pa.list_(_tree_type(element))
    return pa.struct([(name, _tree_type(sub)) for name, sub in items])


def _typed_text(column: pa.Array) -> pd.Series:
    """A leaf as the text ``jsonl._json_text`` gives (integral floats without a fraction)."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        finite = values[~np.isnan(values)]
        if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
            column = pc.cast(column, pa.int64())
    if pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    text = pc.cast(column, pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(text))
