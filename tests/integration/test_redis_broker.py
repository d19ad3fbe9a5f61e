"""The Redis broker of econnect_app/live.py against a real Redis on 127.0.0.1.

Two ``RedisBroker`` objects stand for two backend workers. Each test uses its own channel, so
concurrent runs (and a developer's app on the same server) never see each other's messages; no key
is written. Set ECONNECT_TEST_REDIS_URL (e.g. redis://127.0.0.1:63799/0, `scripts/services.sh
start`) to run them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis

from econnect_app import live

REDIS_URL = os.environ.get("ECONNECT_TEST_REDIS_URL", "")
WAIT_SECONDS = 10

pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="ECONNECT_TEST_REDIS_URL is not set (a Redis on 127.0.0.1, see scripts/services.sh)"
)


class Received:
    """Collects environment ids from a listener thread; tests wait for them without sleeping."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._changed = threading.Condition()

    def __call__(self, environment_id: int) -> None:
        with self._changed:
            self.ids.append(environment_id)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[int]], bool], timeout: float = WAIT_SECONDS) -> list[int]:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.ids), timeout):
                raise AssertionError(f"Timed out; received so far: {self.ids}")
            return list(self.ids)


@pytest.fixture()
def channel() -> str:
    """A channel of this test alone."""
    return f"econnect:test:{uuid.uuid4().hex}"


@pytest.fixture()
def make_broker(channel: str) -> Iterator[Callable[..., live.RedisBroker]]:
    """`make_broker()` -> a RedisBroker on the test's channel (a "worker"); all closed at the end."""
    brokers: list[live.RedisBroker] = []

    def make(**options: object) -> live.RedisBroker:
        options.setdefault("channel", channel)
        broker = live.RedisBroker(REDIS_URL, **options)  # type: ignore[arg-type]
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.close()


def _subscribed(broker: live.RedisBroker, callback: live.ChangeListener) -> live.Unsubscribe:
    unsubscribe = broker.subscribe(callback)
    assert broker.wait_until_subscribed(WAIT_SECONDS), "the subscriber thread did not subscribe"
    return unsubscribe


def _kill_connections(client_name: str) -> int:
    """CLIENT KILL every connection named `client_name` (only the broker's own); returns how many."""
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        ids = [client["id"] for client in admin.client_list() if client.get("name") == client_name]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        admin.close()


def test_a_change_published_on_one_worker_reaches_the_listeners_of_both(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    worker_a, worker_b = make_broker(), make_broker()
    on_a, also_on_a, on_b = Received(), Received(), Received()
    _subscribed(worker_a, on_a)
    _subscribed(worker_a, also_on_a)
    _subscribed(worker_b, on_b)

    worker_a.publish(7)
    worker_b.publish(8)

    for listener in (on_a, also_on_a, on_b):
        listener.wait_for(lambda ids: sorted(ids) == [7, 8])
    assert worker_a.wait_until_published(WAIT_SECONDS) and worker_b.wait_until_published(WAIT_SECONDS)
    # Each change arrives once per listener: a worker's own message is not delivered twice.
    for listener in (on_a, also_on_a, on_b):
        assert sorted(listener.ids) == [7, 8]


def test_the_process_broker_uses_redis_when_redis_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from econnect_app import settings

    configured = settings.load_settings()
    monkeypatch.setattr(settings, "get_settings", lambda: _replace(configured, redis_url=REDIS_URL))
    live.set_broker(None)
    try:
        broker = live.get_broker()
        assert isinstance(broker, live.RedisBroker)
        assert broker.channel == live.channel_for(REDIS_URL)
        received = Received()
        unsubscribe = live.subscribe(received)
        other_worker = live.RedisBroker(REDIS_URL)
        try:
            assert broker.wait_until_subscribed(WAIT_SECONDS)
            other_worker.publish(42)
            received.wait_for(lambda ids: ids == [42])
        finally:
            other_worker.close()
            unsubscribe()
    finally:
        live.shutdown()
        live.set_broker(None)


def _replace(configured: object, **changes: object) -> object:
    import dataclasses

    return dataclasses.replace(configured, **changes)  # type: ignore[type-var]


def test_each_environment_reaches_only_its_own_callbacks(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    """Like the pusher: one dispatcher per worker, callbacks per environment; many publishers."""
    publisher_worker, listening_worker = make_broker(), make_broker()
    per_environment = {environment_id: Received() for environment_id in (1, 2, 3)}
    everything = Received()

    def dispatch(environment_id: int) -> None:
        everything(environment_id)
        per_environment[environment_id](environment_id)

    _subscribed(listening_worker, dispatch)
    expected = Counter({1: 30, 2: 30, 3: 30})

    def publish_many(environment_id: int) -> None:
        for _ in range(30):
            publisher_worker.publish(environment_id)
            assert publisher_worker.wait_until_published(WAIT_SECONDS)  # one message each, no coalescing

    threads = [threading.Thread(target=publish_many, args=(number,)) for number in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything.wait_for(lambda ids: Counter(ids) == expected)
    for environment_id, received in per_environment.items():
        assert set(received.ids) == {environment_id}
        assert len(received.ids) == 30


def test_another_deployment_on_the_same_server_is_not_heard(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    ours, ours_too = make_broker(), make_broker()
    theirs = make_broker(channel=f"econnect:test:other:{uuid.uuid4().hex}")
    received = Received()
    _subscribed(ours, received)
    theirs_received = Received()
    _subscribed(theirs, theirs_received)

    theirs.publish(99)
    theirs_received.wait_for(lambda ids: ids == [99])
    ours_too.publish(5)  # sent after theirs: once it is here, theirs would have been too

    assert received.wait_for(lambda ids: 5 in ids) == [5]


def test_the_subscriber_reconnects_after_its_connection_is_killed_and_asks_for_a_resync(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    publisher_worker, listening_worker = make_broker(), make_broker()
    received = Received()
    resyncs = Received()
    _subscribed(listening_worker, received)
    listening_worker.subscribe_resync(lambda: resyncs(0))
    publisher_worker.publish(1)
    received.wait_for(lambda ids: ids == [1])

    assert _kill_connections(listening_worker.client_name) >= 1

    resyncs.wait_for(lambda ids: len(ids) == 1)  # subscribed again: tabs refresh what they missed
    assert listening_worker.subscriptions == 2
    publisher_worker.publish(2)
    received.wait_for(lambda ids: ids == [1, 2])


def test_the_publisher_reconnects_after_its_connection_is_killed(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    publisher_worker, listening_worker = make_broker(), make_broker()
    received = Received()
    _subscribed(listening_worker, received)
    publisher_worker.publish(1)
    received.wait_for(lambda ids: ids == [1])

    assert _kill_connections(publisher_worker.client_name) >= 1
    publisher_worker.publish(2)
    publisher_worker.publish(3)

    received.wait_for(lambda ids: ids == [1, 2, 3])


def test_publishing_while_redis_is_unreachable_neither_blocks_nor_raises() -> None:
    with socket_closed_port() as port:
        broker = live.RedisBroker(f"redis://127.0.0.1:{port}/0", max_pending=3)
        local = Received()
        broker.subscribe(local)  # the subscriber thread keeps retrying in the background
        try:
            started = time.monotonic()
            for environment_id in range(1000):
                broker.publish(environment_id % 5)
            elapsed = time.monotonic() - started
            threads = [broker._publisher, broker._listener]
        finally:
            broker.close(timeout=5)
    assert elapsed < 1.0  # handing over is cheap; the network is the publisher thread's business
    assert len(local.ids) == 1000  # this worker's own listeners still hear every change
    assert all(thread is not None and not thread.is_alive() for thread in threads)  # close() stopped them


def test_close_stops_the_threads_and_a_later_subscribe_starts_them_again(
    make_broker: Callable[..., live.RedisBroker],
) -> None:
    worker_a, worker_b = make_broker(), make_broker()
    received = Received()
    _subscribed(worker_b, received)
    worker_a.publish(1)
    received.wait_for(lambda ids: ids == [1])

    worker_b.close()
    assert not worker_b.wait_until_subscribed(0)

    _subscribed(worker_b, Received())  # a new lifespan in the same process
    worker_a.publish(2)
    received.wait_for(lambda ids: ids == [1, 2])  # the first listener is still subscribed locally


class socket_closed_port:  # noqa: N801 (used like a function)
    """A loopback port nobody listens on (bound, then closed, for the test's duration)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None
