"""A hundred wrong log-ins from one client against one backend worker (issue 8), over the real
websocket of the real backend (`benchmarks/login_burst.py` starts it and drives it like a browser,
without one): another client's events are answered all along, the throttle stops the guessing
after ten passwords checked, every attempt is recorded under the client's own address (from
X-Forwarded-For behind one trusted proxy), and the owner still logs in from elsewhere.

The issue's figure: another client's round trip stays under 500 ms meanwhile. On a machine so
busy that a quiet round trip (the floor, measured first in the same run) already takes more than
50 ms, the allowance is ten times that floor instead: the claim is that the burst does not block
the event loop, not how fast the machine is. The benchmark
(`.venv/bin/python -m benchmarks.login_burst`) prints the full figures.
"""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from benchmarks import login_burst

pytestmark = pytest.mark.timeout(300)

INCORRECT = "The email address or password is incorrect."
HELD_BACK = "Too many failed log-in attempts for this account. Try again in 15 minutes."


@pytest.fixture(scope="module")
def burst() -> login_burst.BurstResult:
    return login_burst.run_burst(logins=100, tabs=10, baseline=5)


def test_every_wrong_log_in_is_answered_and_the_throttle_stops_the_guessing(burst: login_burst.BurstResult) -> None:
    answers = Counter(burst.attacker_answers)
    assert sum(answers.values()) == 100
    assert set(answers) <= {INCORRECT, HELD_BACK}
    assert 1 <= answers[INCORRECT] <= 10  # at most ten passwords checked, however the tabs raced
    assert answers[HELD_BACK] >= 90


def test_the_attempts_are_recorded_under_the_attackers_own_address(burst: login_burst.BurstResult) -> None:
    failures = [attempt for attempt in burst.recorded_attempts if not attempt["succeeded"]]
    assert len(failures) == Counter(burst.attacker_answers)[INCORRECT]  # refused attempts are not kept
    assert {(attempt["email"], attempt["client_address"]) for attempt in failures} == {
        (login_burst.OWNER_EMAIL, login_burst.ATTACKER_ADDRESS)
    }


def test_another_client_is_answered_during_the_burst(burst: login_burst.BurstResult) -> None:
    # Round trips are sent one after the other until the last log-in is answered: several of them
    # completing means the bystander was served while the burst went on, not after it.
    assert len(burst.bystander_during_ms) >= 5
    floor_ms = statistics.median(burst.bystander_before_ms)
    allowance_ms = max(500.0, 10 * floor_ms)
    assert max(burst.bystander_during_ms) < allowance_ms, (burst.bystander_during_ms, floor_ms)
    print(
        f"\nbystander round trip during the burst: max {max(burst.bystander_during_ms):.0f} ms over "
        f"{len(burst.bystander_during_ms)} round trips in {burst.burst_seconds:.1f} s"
    )


def test_the_owner_logs_in_from_another_address_afterwards(burst: login_burst.BurstResult) -> None:
    assert burst.owner_logged_in
    assert burst.recorded_attempts[-1] == {
        "email": login_burst.OWNER_EMAIL, "client_address": login_burst.BYSTANDER_ADDRESS, "succeeded": True,
    }  # fmt: skip
