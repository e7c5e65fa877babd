"""Raw field paths in JSON objects: ``actor.user.uid``, ``web_resources[0].uid``.

Shared by the JSON Lines reader and mapping files. Pure functions over names and parsed
objects; never reads a file.
"""

from __future__ import annotations

import re
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_segments(path: str) -> tuple[str | int, ...]:
    """``"web_resources[0].uid"`` -> ``("web_resources", 0, "uid")``."""
    segments: list[str | int] = []
    for name, index in _SEGMENT.findall(path):
        segments.append(int(index) if index else name)
    return tuple(segments)


def get_path(obj: dict[str, Any], path: str) -> Any:
    """A JSON object's value at ``path`` (a literal key first, then the nested path)."""
    if path in obj:
        return obj[path]
    value: Any = obj
    for segment in path_segments(path):
        if isinstance(segment, int):
            if not isinstance(value, list) or len(value) <= segment:
                return None
            value = value[segment]
        else:
            if not isinstance(value, dict) or segment not in value:
                return None
            value = value[segment]
    return value


def path_head(path: str) -> str:
    """The top-level key a path starts with (``"actor.user.uid"`` -> ``"actor"``)."""
    segments = path_segments(path)
    return str(segments[0]) if segments else path
