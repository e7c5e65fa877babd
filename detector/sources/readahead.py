"""A reader run in a background thread, a few chunks ahead of validation.

Decompression and parsing (Arrow, without the GIL) then overlap validation. Knows nothing of
formats or fields; it must never let the reader run more than ``depth`` chunks ahead, nor
outlive its consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")


_DONE = object()


def read_ahead(make: Callable[[], Iterator[T]], depth: int) -> Generator[T, None, None]:
    """Run a reader in a background thread, ``depth`` chunks ahead of the consumer.

    Decompression and parsing (Arrow, without the GIL) then overlap validation. Errors are
    re-raised in the consumer; closing the consumer stops the reader.
    """
    if depth < 1:
        yield from make()
        return
    # (item, None), (_DONE, None) at the end, or (None, error)
    out: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            iterator = make()
            try:
                for item in iterator:
                    if not put((item, None)):
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put((None, exc))

    worker = threading.Thread(target=work, name="insiderwatch-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = out.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield cast(T, item)  # neither _DONE nor an error: an item the reader yielded
    finally:
        stop.set()
        worker.join()
