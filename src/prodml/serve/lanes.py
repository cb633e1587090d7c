"""A thread per rollout arm that runs its scoring off the server's event loop.

Cheaper per request than `loop.run_in_executor` (no `concurrent.futures.Future` with its
condition variable, no chained futures): a job is one `SimpleQueue.put`, and the results
finished while the loop was busy go back to it in one wake-up, and a job whose result the
loop does not need (`run`) never wakes it. Each arm has its own
thread, so an arm that hangs only holds up its own jobs: `pending` tells the caller when
to stop queueing behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_Result = tuple[asyncio.Future[Any], Any, BaseException | None]


class Lane:
    """Runs jobs one after another on a thread of its own (a daemon: a hung job never
    stops the process from exiting)."""

    def __init__(self, name: str) -> None:
        # Each count has one writer (the event loop, the lane's thread): no lock needed.
        self.name = name
        self._submitted = 0
        self._finished = 0
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=f"prodml-lane-{name}", daemon=True).start()

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._submitted - self._finished

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """`fn(*args)` on the lane's thread; its result (or exception) in the future. From
        the event loop only."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._submitted += 1
        self._jobs.put((loop, future, fn, args))
        return future

    def run(self, fn: Callable[..., None], *args: Any) -> None:
        """`fn(*args)` on the lane's thread, its outcome nobody's business but its own: an
        exception it raises is logged."""
        self._submitted += 1
        self._jobs.put((None, None, fn, args))

    def _run(self) -> None:
        done: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
        while True:
            loop, future, fn, args = self._jobs.get()
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # the job's failure is its answer
                result, error = None, exc
            self._finished += 1
            if loop is not None:
                done.setdefault(loop, []).append((future, result, error))
            elif error is not None:
                logger.error("A job on lane %s failed", self.name, exc_info=error)
            if self._jobs.empty() and done:  # each loop is woken once for all finished meanwhile
                for waiting, results in done.items():
                    # A loop that has closed has no one waiting any more.
                    with contextlib.suppress(RuntimeError):
                        waiting.call_soon_threadsafe(_settle, results)
                done = {}


def _settle(done: list[_Result]) -> None:
    for future, result, error in done:
        if future.done():  # it timed out: the caller was answered without it
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
