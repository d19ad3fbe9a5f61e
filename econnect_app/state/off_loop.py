"""Database and CPU work off the worker's event loop.

Reflex runs the handlers of every tab connected to a worker on one event loop: a query, a password
hash or a CSV import run there freezes all of those tabs, live updates included. The page states
hand such work to ``run_off_loop`` (through ``AuthState``'s helpers); long work that reports
progress runs as a ``ThreadWithProgress`` from a background event.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
ProgressCallback = Callable[[int, int], None]

# Log-ins check a password (argon2: about 0.3 s of every core) one at a time per worker, on a thread
# of their own: a burst of log-ins queues here instead of filling the shared pool (a few threads)
# that every other tab's work needs, and other tabs keep answering meanwhile.
PASSWORD_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-check")
# Progress shown at most this often: ten updates a second read as continuous, and each update is a
# state change sent to the tab (a 1,000-row import reporting every row would send a thousand,
# taking the event loop, the GIL and the browser from the work itself).
PROGRESS_EVERY_SECONDS = 0.1


async def run_off_loop(work: Callable[[], T], executor: Executor | None = None) -> T:
    """Run ``work`` in a worker thread (of ``executor`` when given, e.g. ``PASSWORD_CHECKS``) and
    return its result (or raise its exception).

    When the awaiting handler is cancelled meanwhile (a page load superseded by a navigation), the
    cancellation waits until the thread has finished: the work may change the tab's state, which
    must not happen after the handler has let go of that state's lock.
    """
    if executor is None:
        return await _outcome(asyncio.ensure_future(asyncio.to_thread(work)))
    in_context = contextvars.copy_context().run
    return await _outcome(asyncio.get_running_loop().run_in_executor(executor, in_context, work))


async def _outcome(thread: asyncio.Future[T]) -> T:
    """The outcome of work running in a thread; a cancellation waits for the thread to finish."""
    try:
        return await asyncio.shield(thread)
    except asyncio.CancelledError:
        await _until_done(thread)
        raise


async def _until_done(future: asyncio.Future[object]) -> None:
    """Wait for ``future`` to finish, whatever its outcome, even when cancelled again meanwhile."""
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            continue
    if not future.cancelled():
        future.exception()  # retrieved: the outcome is dropped on purpose


class ThreadWithProgress(Generic[T]):
    """Work running in a worker thread that reports its progress as ``(done, total)``.

    ``work`` receives the callback to call from its thread; ``progress()`` yields on the event loop
    the latest progress whenever it changed, at most every ``PROGRESS_EVERY_SECONDS`` (reports in
    between are skipped), until the work ends; ``result()`` then returns what it returned (or
    raises what it raised).
    """

    def __init__(self, work: Callable[[ProgressCallback], T]) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._latest: tuple[int, int] | None = None
        self._changed = asyncio.Event()
        self._thread = asyncio.ensure_future(asyncio.to_thread(work, self._report))

    def _report(self, done: int, total: int) -> None:
        """The progress callback (called from the worker thread). The loop is woken only when no
        report is waiting for it already (it then takes the latest)."""
        with self._lock:
            waiting = self._latest is not None
            self._latest = (done, total)
        if waiting:
            return
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # the loop is closed: the backend is shutting down
            pass

    def _take_latest(self) -> tuple[int, int] | None:
        with self._lock:
            latest, self._latest = self._latest, None
        self._changed.clear()
        return latest

    async def progress(self, every: float = PROGRESS_EVERY_SECONDS) -> AsyncIterator[tuple[int, int]]:
        """The latest ``(done, total)`` when it changed, at most once per ``every`` seconds, until
        the work has ended (its end is not delayed by the pace)."""
        while not self._thread.done():
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait([changed, self._thread], return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
            latest = self._take_latest()
            if latest is not None and not self._thread.done():
                yield latest
                await asyncio.wait([self._thread], timeout=every)  # the pace; returns early when the work ends

    async def result(self) -> T:
        """What the work returned (waits for it to end)."""
        return await _outcome(self._thread)
