"""The push channel for live updates: "something changed in environment E".

Services call ``publish_environment_change(environment_id)`` after they commit; listeners (the
Reflex side, ``econnect_app/state/live.py``) ``subscribe(callback)`` and refresh the open sessions
of that environment from the database. A message carries only an environment id, never data: each
listener re-reads what its own user may see.

This module imports nothing from Reflex. Delivery goes through a ``Broker``:

- ``InProcessBroker`` (no Redis): callbacks run synchronously in the publisher's thread, each one
  guarded so a failing listener cannot break the publisher or the other listeners. Enough for one
  backend process (Reflex runs one worker when no Redis is configured).
- ``RedisBroker`` (when ``settings.redis_url`` is set; several backend workers): ``publish``
  delivers to this worker's listeners at once and hands the id to a publisher thread, which sends
  it on the Redis pub/sub channel ``econnect:environment-changes:<redis db>``. A subscriber thread
  per worker (started by the first ``subscribe``, i.e. by the live-updates lifespan task) hands
  what the other workers published to the local listeners. Both threads reconnect after Redis
  restarts; once subscribed, first or again, the listeners registered with ``subscribe_resync``
  are told that changes may have been missed. ``shutdown()`` stops both threads (the lifespan task calls it).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

ChangeListener = Callable[[int], None]
ResyncListener = Callable[[], None]
Unsubscribe = Callable[[], None]

CHANNEL_PREFIX = "econnect:environment-changes"


class Broker(Protocol):
    """Carries environment-change messages from publishers to subscribers."""

    def publish(self, environment_id: int) -> None:
        """Announce that data of ``environment_id`` changed (never raises)."""

    def subscribe(self, callback: ChangeListener) -> Unsubscribe:
        """Call ``callback(environment_id)`` for every change; returns the unsubscribe function."""


class InProcessBroker:
    """Delivers to the listeners of this process, in the publisher's thread; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, ChangeListener] = {}
        self._ids = itertools.count()

    def publish(self, environment_id: int) -> None:
        """Call every listener with ``environment_id``; a listener's error is logged, not raised."""
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(environment_id)
            except Exception:  # a broken listener must not break the use case that published
                logger.exception(
                    "Live-update listener %r failed for environment %s", listener, environment_id
                )

    def subscribe(self, callback: ChangeListener) -> Unsubscribe:
        """Add a listener; the returned function removes it (calling it twice is harmless)."""
        with self._lock:
            key = next(self._ids)
            self._listeners[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed (for tests and diagnostics)."""
        with self._lock:
            return len(self._listeners)


class RedisBroker:
    """Carries changes between the backend workers of one deployment over Redis pub/sub.

    ``publish`` never blocks and never raises: it delivers to this worker's listeners at once and
    queues the id for the publisher thread (ids waiting while Redis is down are kept, once each, up
    to ``max_pending``). The subscriber thread forwards the other workers' messages (its own are
    skipped: they were delivered already) to the local listeners. Threads start on first use and
    again after a fork; ``close()`` stops them.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str | None = None,
        client_name: str | None = None,
        max_pending: int = 10_000,
        poll_seconds: float = 0.25,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        self.url = url
        self.channel = channel or channel_for(url)
        self.origin = uuid.uuid4().hex[:16]  # tells this broker's own messages apart
        self.client_name = client_name or f"econnect-live-{self.origin}"
        self._max_pending = max_pending
        self._poll_seconds = poll_seconds
        self._max_reconnect_delay = max_reconnect_delay
        self._local = InProcessBroker()
        self._resync_listeners = InProcessBroker()
        self._reset_threads()

    def _reset_threads(self) -> None:
        """Fresh thread state (at creation, and in a forked child: the parent's threads and the
        locks they may have held at the fork do not exist there)."""
        self._pid = os.getpid()
        self._threads_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: dict[int, None] = {}  # an ordered set of environment ids to publish
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._subscriptions = 0
        self._publisher: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._dropped = 0

    # --- the Broker interface --------------------------------------------------------------------

    def publish(self, environment_id: int) -> None:
        """Deliver to this worker's listeners and queue the id for the other workers (never raises)."""
        self._local.publish(environment_id)
        try:
            self._check_fork()
            with self._cond:
                if environment_id not in self._pending and len(self._pending) >= self._max_pending:
                    self._dropped += 1
                    if self._dropped == 1 or self._dropped % 1000 == 0:
                        logger.warning("Redis unreachable: %s live update(s) dropped", self._dropped)
                    return
                self._pending[environment_id] = None
                self._cond.notify()
            self._ensure_thread("publisher")
        except Exception:
            logger.exception("Could not queue a live update for environment %s", environment_id)

    def subscribe(self, callback: ChangeListener) -> Unsubscribe:
        """Listen to the changes of every worker (starts this worker's subscriber thread)."""
        unsubscribe = self._local.subscribe(callback)
        self._check_fork()
        self._ensure_thread("listener")
        return unsubscribe

    def subscribe_resync(self, callback: ResyncListener) -> Unsubscribe:
        """Call ``callback()`` after the subscription was re-established (changes may be lost)."""
        return self._resync_listeners.subscribe(lambda _ignored: callback())

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued (one attempt), stop both threads and wait for them (bounded)."""
        with self._threads_lock:
            threads = [thread for thread in (self._publisher, self._listener) if thread is not None]
            self._stopping.set()
            with self._cond:
                self._cond.notify_all()
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():  # it still ends on its own: it holds the stop event set above
                logger.warning("Live-update thread %s did not stop within %s s", thread.name, timeout)
        with self._threads_lock:
            self._stopping = threading.Event()  # a later use starts new threads
            self._publisher = self._listener = None
            self._subscribed.clear()

    # --- for tests and diagnostics ------------------------------------------------------------

    def wait_until_subscribed(self, timeout: float) -> bool:
        """Whether the subscriber thread is subscribed (waits up to ``timeout`` seconds)."""
        return self._subscribed.wait(timeout)

    @property
    def subscriptions(self) -> int:
        """How many times the channel was subscribed (more than one: it reconnected)."""
        return self._subscriptions

    def wait_until_published(self, timeout: float) -> bool:
        """Whether the publish queue is empty (waits up to ``timeout`` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    # --- threads ----------------------------------------------------------------------------

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a forked worker: the parent's threads do not exist here
            self._reset_threads()

    def _ensure_thread(self, kind: str) -> None:
        with self._threads_lock:
            if self._stopping.is_set():
                return
            current = self._publisher if kind == "publisher" else self._listener
            if current is not None and current.is_alive():
                return
            target = self._publish_loop if kind == "publisher" else self._listen_loop
            thread = threading.Thread(
                target=target, args=(self._stopping,), name=f"econnect-live-{kind}", daemon=True
            )
            if kind == "publisher":
                self._publisher = thread
            else:
                self._listener = thread
            thread.start()

    def _client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No hidden retries: the loops below reconnect with their own back-off and notice it.
        return redis.Redis.from_url(
            self.url,
            client_name=self.client_name,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            retry=Retry(NoBackoff(), 0),
        )

    def _delay(self, failures: int) -> float:
        return min(0.1 * 2 ** max(failures - 1, 0), self._max_reconnect_delay)

    def _publish_loop(self, stopping: threading.Event) -> None:
        client: Any = None
        failures = 0
        try:
            while True:
                with self._cond:
                    while not self._pending and not stopping.is_set():
                        self._cond.wait()
                    if not self._pending:
                        return  # stopping, nothing left to send
                    batch = list(self._pending)
                    self._pending.clear()
                try:
                    if client is None:
                        client = self._client()
                    pipeline = client.pipeline(transaction=False)
                    for environment_id in batch:
                        pipeline.publish(self.channel, f"{self.origin}:{environment_id}")
                    pipeline.execute()
                except Exception as error:  # Redis down, restarted, or the connection was killed
                    failures += 1
                    _log_redis_failure("publish live updates", error, failures)
                    _close_quietly(client)
                    client = None
                    if stopping.is_set():
                        logger.warning("Stopping: %s live update(s) not sent to other workers", len(batch))
                        return
                    with self._cond:  # keep them, ahead of newer ones
                        room = self._max_pending - len(self._pending)
                        kept = [
                            environment_id for environment_id in batch if environment_id not in self._pending
                        ]
                        self._pending = {**dict.fromkeys(kept[: max(room, 0)]), **self._pending}
                    stopping.wait(self._delay(failures))
                    continue
                with self._cond:
                    self._cond.notify_all()  # wait_until_published
                if failures:
                    logger.info("Publishing live updates to Redis again")
                failures = 0
        finally:
            _close_quietly(client)

    def _listen_loop(self, stopping: threading.Event) -> None:
        failures = 0
        while not stopping.is_set():
            client: Any = None
            pubsub: Any = None
            try:
                client = self._client()
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                while not stopping.is_set():
                    message = pubsub.get_message(timeout=self._poll_seconds)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        failures = 0
                        self._on_subscribed()
                    elif message["type"] == "message":
                        self._deliver(message["data"])
            except Exception as error:  # Redis down, restarted, or the connection was killed
                failures += 1
                self._subscribed.clear()
                if not stopping.is_set():
                    _log_redis_failure("receive live updates", error, failures)
            finally:
                _close_quietly(pubsub)
                _close_quietly(client)
            if not stopping.is_set():
                stopping.wait(self._delay(failures))

    def _on_subscribed(self) -> None:
        """Subscribed (again): the tabs this worker already has may have missed changes meanwhile
        (a tab reconnecting to a worker that has just started registers before or while it
        subscribes), so the resync listeners refresh them all, then ``wait_until_subscribed`` returns."""
        self._subscriptions += 1
        if self._subscriptions == 1:
            logger.info("Receiving live updates from the other workers on %s", self.channel)
        else:
            logger.info("Subscribed to %s again: refreshing every open tab of this worker", self.channel)
        self._resync_listeners.publish(0)
        self._subscribed.set()

    def _deliver(self, data: bytes | str) -> None:
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        origin, _, environment = text.rpartition(":")
        try:
            environment_id = int(environment)
        except ValueError:
            logger.warning("Ignored a malformed live update on %s: %r", self.channel, text[:100])
            return
        if origin == self.origin:
            return  # published here: delivered to the local listeners already
        self._local.publish(environment_id)


def channel_for(redis_url: str) -> str:
    """The channel of one deployment: ``econnect:environment-changes:<redis db number>``.

    Deployments (or test runs) that share a Redis server use separate databases, hence channels.
    """
    from redis.connection import parse_url

    return f"{CHANNEL_PREFIX}:{int(parse_url(redis_url).get('db') or 0)}"


def _close_quietly(resource: Any) -> None:
    if resource is None:
        return
    try:
        resource.close()
    except Exception:  # closing a broken connection may fail again; nothing to do about it
        logger.debug("Closing a Redis connection failed", exc_info=True)


def _log_redis_failure(action: str, error: BaseException, failures: int) -> None:
    """Warn on the first failure of an outage, then only now and then."""
    if failures == 1 or failures % 50 == 0:
        logger.warning(
            "Could not %s (attempt %s, retrying): %s: %s", action, failures, type(error).__name__, error
        )
    else:
        logger.debug("Could not %s (attempt %s): %s", action, failures, error)


_broker: Broker | None = None
_broker_lock = threading.Lock()


def _make_broker() -> Broker:
    """The broker for this process: Redis pub/sub when ``REFLEX_REDIS_URL`` is set."""
    from econnect_app.settings import get_settings

    redis_url = get_settings().redis_url
    return RedisBroker(redis_url) if redis_url else InProcessBroker()


def get_broker() -> Broker:
    """The process-wide broker (created on first use)."""
    global _broker
    if _broker is None:
        with _broker_lock:
            if _broker is None:
                _broker = _make_broker()
    return _broker


def set_broker(broker: Broker | None) -> None:
    """Replace the process-wide broker (tests; ``None`` makes the next use build a fresh one)."""
    global _broker
    with _broker_lock:
        _broker = broker


def publish_environment_change(environment_id: int | None) -> None:
    """Tell every open session of ``environment_id`` to refresh; call it after the commit.

    Never raises: a failed live update must not turn a committed use case into an error.
    """
    if environment_id is None:
        return
    try:
        get_broker().publish(int(environment_id))
    except Exception:
        logger.exception("Could not publish a live update for environment %s", environment_id)


def subscribe(callback: ChangeListener) -> Unsubscribe:
    """Call ``callback(environment_id)`` (from the publisher's thread) for every change."""
    return get_broker().subscribe(callback)


def subscribe_resync(callback: ResyncListener) -> Unsubscribe:
    """Call ``callback()`` when changes may have been missed (the Redis subscription was lost and
    is back); listeners then refresh everything they show. Never called without Redis."""
    method = getattr(get_broker(), "subscribe_resync", None)
    return method(callback) if method is not None else (lambda: None)


def shutdown() -> None:
    """Stop the broker's threads (the lifespan task calls it when the worker stops); never raises.

    The next use starts them again."""
    close = getattr(get_broker(), "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        logger.exception("Stopping the live-update broker failed")
