"""Rate limits per client address and per environment (services/throttle.py), in memory and in a
real Redis (ECONNECT_TEST_REDIS_URL, e.g. redis://127.0.0.1:63799/0 from `scripts/services.sh
start`; those cases are skipped without it). Each Redis case counts under a key prefix of its own
and deletes its keys at the end.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from limits.storage import MemoryStorage, RedisStorage, Storage

from econnect_app.services import throttle
from econnect_app.services.caller import calling_from
from econnect_app.services.errors import TooManyAttempts
from econnect_app.settings import get_settings

REDIS_URL = os.environ.get("ECONNECT_TEST_REDIS_URL", "")
SIGN_UPS_PER_HOUR = 10
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="ECONNECT_TEST_REDIS_URL is not set (see scripts/services.sh)")


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def new_storage(request: pytest.FixtureRequest) -> Iterator[Callable[[], Storage]]:
    """`new_storage()` -> a storage as one worker opens it; with Redis, every one shares the counts
    (one key prefix per test), as the workers of one deployment do."""
    prefix = f"econnect:test:limits:{uuid.uuid4().hex}"
    opened: list[Storage] = []

    def open_storage() -> Storage:
        storage: Storage = MemoryStorage() if request.param == "memory" else RedisStorage(REDIS_URL, key_prefix=prefix)
        opened.append(storage)
        return storage

    yield open_storage
    if request.param == "redis":
        opened[0].reset()  # deletes this test's keys (the prefix) only


@pytest.fixture()
def storage(new_storage: Callable[[], Storage]) -> Storage:
    storage = new_storage()
    throttle.use_storage(storage)
    return storage


def attempts_allowed(action: str, tries: int, **kwargs: int) -> int:
    """How many of ``tries`` attempts in a row pass ``throttle.check``."""
    allowed = 0
    for _ in range(tries):
        try:
            throttle.check(action, **kwargs)
        except throttle.Limited:
            continue
        allowed += 1
    return allowed


def test_the_table_names_every_action_of_the_brief() -> None:
    assert set(throttle.LIMITS) == {
        "sign_up", "password_reset", "invitation", "email_confirmation", "authorisation_request",
        "client_connect_page", "client_connect", "client_connect_invitation", "sftp_check",
    }  # fmt: skip
    assert throttle.LIMITS["sign_up"].per_client.startswith(f"{SIGN_UPS_PER_HOUR}/hour")


def test_one_csv_file_of_the_most_rows_passes_the_authorisation_request_limits_and_a_second_does_not(
    storage: Storage,
) -> None:
    """Every row of a CSV import counts (services/authorisations/import_csv.py): a file of
    ``MAX_IMPORT_ROWS`` rows goes through whole, as many again within the hour do not."""
    from econnect_app.services.authorisations.import_csv import MAX_IMPORT_ROWS

    with calling_from("203.0.113.7"):
        assert attempts_allowed("authorisation_request", MAX_IMPORT_ROWS, environment_id=7) == MAX_IMPORT_ROWS
        assert attempts_allowed("authorisation_request", MAX_IMPORT_ROWS, environment_id=7) < MAX_IMPORT_ROWS
    with calling_from("198.51.100.4"):  # another address of the same firm: the environment's limit
        allowed = attempts_allowed("authorisation_request", MAX_IMPORT_ROWS, environment_id=7)
    assert allowed < MAX_IMPORT_ROWS


def test_one_client_is_refused_past_its_limit_and_told_when_to_try_again(storage: Storage) -> None:
    with calling_from("203.0.113.7"):
        assert attempts_allowed("sign_up", SIGN_UPS_PER_HOUR) == SIGN_UPS_PER_HOUR
        with pytest.raises(throttle.Limited) as refused:
            throttle.check("sign_up")
    assert isinstance(refused.value, TooManyAttempts)
    assert 3500 < refused.value.retry_after_seconds <= 3600
    assert refused.value.message == "Too many accounts were created. Try again in 60 minutes."


def test_other_clients_and_other_actions_are_counted_apart(storage: Storage) -> None:
    with calling_from("203.0.113.7"):
        attempts_allowed("sign_up", SIGN_UPS_PER_HOUR + 1)
        throttle.check("password_reset")
    with calling_from("198.51.100.4"):
        throttle.check("sign_up")


def test_an_environment_is_limited_across_clients(storage: Storage) -> None:
    environment_limit = 30  # email_confirmation: 30/hour per environment, 10/hour per client
    allowed = 0
    for client in range(5):
        with calling_from(f"203.0.113.{client}"):
            allowed += attempts_allowed("email_confirmation", 10, environment_id=7)
    assert allowed == environment_limit
    with calling_from("198.51.100.1"):
        with pytest.raises(throttle.Limited):
            throttle.check("email_confirmation", environment_id=7)
        throttle.check("email_confirmation", environment_id=8)


def test_a_refused_attempt_is_not_counted(storage: Storage) -> None:
    """Refused by its environment's limit, the attempt leaves the client's own count alone."""
    for client in range(3):
        with calling_from(f"203.0.113.{client}"):
            attempts_allowed("email_confirmation", 10, environment_id=7)
    with calling_from("198.51.100.1"):
        for _ in range(20):
            with pytest.raises(throttle.Limited):
                throttle.check("email_confirmation", environment_id=7)
        assert attempts_allowed("email_confirmation", 11) == 10  # its own 10 an hour, untouched


def test_a_burst_of_simultaneous_attempts_gets_exactly_the_limit(storage: Storage) -> None:
    tries = 3 * SIGN_UPS_PER_HOUR
    start = threading.Barrier(tries)
    outcomes: list[bool] = []

    def attempt() -> None:
        with calling_from("203.0.113.7"):
            start.wait()
            try:
                throttle.check("sign_up")
                outcomes.append(True)
            except throttle.Limited:
                outcomes.append(False)

    threads = [threading.Thread(target=attempt) for _ in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == SIGN_UPS_PER_HOUR


def test_workers_sharing_a_redis_share_the_counts(new_storage: Callable[[], Storage], request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params["new_storage"] == "memory":
        pytest.skip("memory storage is one process's own")
    first_worker, second_worker = new_storage(), new_storage()
    with calling_from("203.0.113.7"):
        throttle.use_storage(first_worker)
        assert attempts_allowed("sign_up", SIGN_UPS_PER_HOUR // 2) == SIGN_UPS_PER_HOUR // 2
        throttle.use_storage(second_worker)
        assert attempts_allowed("sign_up", SIGN_UPS_PER_HOUR) == SIGN_UPS_PER_HOUR // 2


def test_the_scale_setting_multiplies_every_limit(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECONNECT_RATE_LIMIT_SCALE", "3")
    get_settings.cache_clear()
    try:
        with calling_from("203.0.113.7"):
            assert attempts_allowed("sign_up", 5 * SIGN_UPS_PER_HOUR) == 3 * SIGN_UPS_PER_HOUR
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_storage_follows_the_redis_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without REFLEX_REDIS_URL the counts stay in memory; with it, in Redis (not connected yet)."""
    monkeypatch.delenv("REFLEX_REDIS_URL", raising=False)
    get_settings.cache_clear()
    throttle.use_storage(None)
    try:
        throttle.check("sign_up")
        assert isinstance(throttle._storage, MemoryStorage)
        monkeypatch.setenv("REFLEX_REDIS_URL", "redis://127.0.0.1:1/0")
        get_settings.cache_clear()
        throttle.use_storage(None)
        assert isinstance(throttle._limiter().storage, RedisStorage)
    finally:
        throttle.use_storage(None)
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (3600, "60 minutes"), (7200, "2 hours"), (86399, "24 hours")],
)
def test_the_wait_is_said_in_plain_words(seconds: float, text: str) -> None:
    assert throttle.wait_text(seconds) == text
