"""Progress bars on stderr for long work (rich); silent when disabled or not a terminal."""

from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task) -> None:
        self._progress = progress
        self._task = task

    def update(self, advance: int = 1, **fields) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=advance, **fields)


@contextlib.contextmanager
def progress_bar(description: str, *, total: int | None, unit: str = "", disable: bool = False):
    """A progress bar on stderr. Yields an object with ``update(advance=1)``."""
    if disable or not sys.stderr.isatty():
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield _Bar(progress, task)
