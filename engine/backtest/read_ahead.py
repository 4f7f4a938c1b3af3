"""Read the replay ahead of the loop, on a second core.

A backtest spends about a sixth of its time reading: Parquet decoding and the chunk's numpy
columns, which polars and numpy do outside the GIL. :func:`read_ahead` runs the replay's
generator in a thread one chunk ahead of its consumer, so the next chunk is read while the loop
(which holds the GIL) runs this one. The chunks, their order and their contents are the
generator's own: only where the reading happens changes. At most ``depth`` chunks wait beside
the one being read and the one in use, so memory stays bounded by a few part files.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    """The producer's exception, carried to the consumer to be raised there."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(source: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``source``'s items, in order, produced by a daemon thread up to ``depth`` items ahead.

    An exception in ``source`` is raised in the consumer where its item would have come. When
    the consumer stops early (an error in the loop, the generator closed), the thread is told
    to stop, and stops after the item it is producing.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        """Hand ``item`` to the consumer; False when it has stopped."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put(item):
                    return
            final: object = _DONE
        except BaseException as error:  # carried to the consumer, which raises it
            final = _Failed(error)
        finally:
            if stop.is_set():
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # the source's own cleanup, in the thread that ran it
        put(final)

    thread = threading.Thread(target=produce, name="stom-replay-read", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]  # (the producer puts only T, _DONE and _Failed)
    finally:
        stop.set()
        thread.join()
