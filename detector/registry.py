"""String-keyed registries: the extension points (detectors, hand-written baselines) are
filled by a decorator, and an unknown name is a usage error that lists the known ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from detector.errors import UsageError

T = TypeVar("T")


class Registry(dict[str, T]):
    """name -> implementation; ``kind`` names what is registered, for error messages."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name``."""

        def wrap(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            return obj

        return wrap

    def lookup(self, name: str) -> T:
        """The implementation of ``name``; a :class:`UsageError` listing the known names."""
        try:
            return self[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}; choose one of {', '.join(sorted(self))}") from None
