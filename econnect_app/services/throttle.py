"""Rate limits per client address and per environment on actions that send email or create work
for others: sign-up, password reset, invitations, address confirmations, authorisation requests.

Counted with the ``limits`` library, moving-window strategy: an attempt is counted only when it is
allowed, so a refused client is free again as soon as its oldest counted attempt leaves the
window, which is what the message says. Storage: Redis when ``REFLEX_REDIS_URL`` is set (every
worker shares the counts; each acquire is one atomic Lua script), memory otherwise (one process).

Log-in has its own throttle in ``login_throttle.py``: it counts failures, kept in the database.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from econnect_app import i18n
from econnect_app.services.caller import client_address
from econnect_app.services.errors import TooManyAttempts
from econnect_app.settings import get_settings

REDIS_KEY_PREFIX = "econnect:limits"


@dataclass(frozen=True)
class ActionLimits:
    """The limits of one action, in the ``limits`` notation ("10/hour; 50/day"), and what a refusal
    says before when to try again (marked with ``i18n.N_``, translated by ``Limited``)."""

    per_client: str
    per_environment: str
    refusal: str


# One table for every throttled action. Per client: one address (an office behind one NAT address
# shares it, hence the headroom). Per environment: only when the caller names the environment.
LIMITS: dict[str, ActionLimits] = {
    "sign_up": ActionLimits("10/hour; 30/day", "10/hour; 30/day", i18n.N_("Too many accounts were created.")),
    "password_reset": ActionLimits(
        "10/hour; 30/day", "20/hour; 100/day", i18n.N_("Too many password reset requests.")
    ),
    "invitation": ActionLimits(
        "50/hour; 200/day", "100/hour; 300/day", i18n.N_("Too many invitations were sent.")
    ),
    "email_confirmation": ActionLimits(
        "10/hour; 30/day", "30/hour; 100/day", i18n.N_("Too many confirmation emails were sent.")
    ),
    # A CSV import sends up to 1,000 requests at once (import_csv.MAX_IMPORT_ROWS), each counted: one
    # such file passes, a second within the hour does not.
    "authorisation_request": ActionLimits(
        "1200/hour; 3000/day", "2000/hour; 5000/day", i18n.N_("Too many authorisation requests were sent.")
    ),
    # Client Connect (services/client_connect.py): opening the public page (per client only),
    # connecting an app through it (per client and per managing environment: each connection
    # emails the organisation's administrators) and "Ask owner to connect" emails.
    "client_connect_page": ActionLimits(
        "300/hour; 1000/day", "3000/hour; 10000/day", i18n.N_("Too many requests.")
    ),
    "client_connect": ActionLimits(
        "10/hour; 30/day", "100/hour; 500/day", i18n.N_("Too many apps were connected.")
    ),
    "client_connect_invitation": ActionLimits(
        "30/hour; 100/day", "100/hour; 300/day", i18n.N_("Too many Client Connect emails were sent.")
    ),
    # Checking an SFTP server for a configuration (services/configurations.py): each check makes
    # this server connect to a host and port the user typed, so it is no port scanner.
    "sftp_check": ActionLimits(
        "30/hour; 100/day", "60/hour; 200/day", i18n.N_("Too many SFTP servers were checked.")
    ),
}


class Limited(TooManyAttempts):
    """Refused by a rate limit; the message says when to try again."""

    def __init__(self, retry_after_seconds: int, reason: str = i18n.N_("Too many attempts.")) -> None:
        """``reason``: English, marked with ``i18n.N_``; translated here with the rest."""
        self.retry_after_seconds = max(1, math.ceil(retry_after_seconds))
        super().__init__(
            i18n.gettext(
                "{reason} Try again in {wait}.",
                reason=i18n.gettext(reason),
                wait=wait_text(self.retry_after_seconds),
            )
        )


def wait_text(seconds: float) -> str:
    """How long to wait, in plain words rounded up: "1 minute", "25 minutes", "3 hours"."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 120:
        return i18n.ngettext("{count} minute", "{count} minutes", minutes)
    return i18n.ngettext("{count} hour", "{count} hours", math.ceil(minutes / 60))


def check(action: str, *, environment_id: int | None = None, cost: int = 1) -> None:
    """Count one attempt of ``action`` (``cost``: that many at once) for the calling client
    (``caller.client_address()``) and, when given, the environment; raise ``Limited`` when a limit
    would be exceeded (nothing counted then).

    Every limit is tested first and the attempt is counted only when all allow it. Each count is
    atomic, so a burst of simultaneous attempts never gets past a limit; when two of them race for
    the last place, the loser may leave a count behind in a limit checked before the one that
    refused it (an over-count by one, never an under-count).
    """
    table = LIMITS[action]
    keyed = [(item, (action, "client", client_address())) for item in _items(table.per_client)]
    if environment_id is not None:
        keyed += _environment_keys(action, environment_id)
    _count(keyed, table.refusal, cost=cost)


def environment_allows(action: str, environment_id: int) -> bool:
    """Count one attempt of ``action`` for an environment only; False (nothing counted) when over
    its limit. For answers that must not tell whether an account exists: forgot-password counts
    the account's environment and quietly sends nothing past the limit."""
    try:
        _count(_environment_keys(action, environment_id), LIMITS[action].refusal)
    except Limited:
        return False
    return True


def _environment_keys(action: str, environment_id: int) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    notation = LIMITS[action].per_environment
    return [(item, (action, "environment", str(environment_id))) for item in _items(notation)]


def _count(keyed: list[tuple[RateLimitItem, tuple[str, ...]]], refusal: str, *, cost: int = 1) -> None:
    """Test every limit, then count the attempt(s) in each; ``Limited`` when one is exceeded."""
    limiter = _limiter()
    refused = [(item, key) for item, key in keyed if not limiter.test(item, *key, cost=cost)]
    if refused:
        raise Limited(max(_seconds_until_free(limiter, item, key) for item, key in refused), refusal)
    for item, key in keyed:
        if not limiter.hit(item, *key, cost=cost):
            raise Limited(_seconds_until_free(limiter, item, key), refusal)


def use_storage(storage: Storage | None) -> None:
    """Count in ``storage`` from now on (tests give each test a fresh ``MemoryStorage``); None: the
    storage the settings name, opened at the next check."""
    global _storage
    with _storage_lock:
        _storage = storage


def _items(notation: str) -> list[RateLimitItem]:
    """The limits of ``notation``, their counts multiplied by the ``rate_limit_scale`` setting."""
    scale = get_settings().rate_limit_scale
    return [type(item)(item.amount * scale, item.multiples) for item in parse_many(notation)]


def _seconds_until_free(limiter: MovingWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...]) -> float:
    """Seconds until the oldest counted attempt leaves the window (the next one is then allowed)."""
    return limiter.get_window_stats(item, *key).reset_time - time.time()


_storage: Storage | None = None
_storage_lock = threading.Lock()


def _limiter() -> MovingWindowRateLimiter:
    global _storage
    with _storage_lock:
        if _storage is None:
            redis_url = get_settings().redis_url
            _storage = (
                storage_from_string(redis_url, key_prefix=REDIS_KEY_PREFIX)
                if redis_url
                else storage_from_string("memory://")
            )
        return MovingWindowRateLimiter(_storage)
