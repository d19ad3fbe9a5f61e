"""Periodic backend work: writing down the expiry of authorisation and relationship requests.

Reads already show a Pending request past its ``expires_at`` as Expired; ``expiry_loop`` (a Reflex
lifespan task) makes it so in the database every ``EXPIRY_INTERVAL_SECONDS``: the status becomes
Expired, the links are voided and one activity row is written per request, and the environments
concerned get their live update.

Safe with several workers, each running its own loop: a request is expired by a conditional
UPDATE (``WHERE status = 'Pending' AND expires_at <= now``), so only one worker changes a row and
writes its activity; the others find nothing left to do. Running it twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session

from econnect_app.db import get_engine
from econnect_app.services.authorisations import expire_due_requests
from econnect_app.services.relationship_requests import expire_due_relationship_requests

if TYPE_CHECKING:
    import reflex as rx

logger = logging.getLogger(__name__)

EXPIRY_INTERVAL_SECONDS = 60


def expire_requests_once(engine: Engine) -> int:
    """One run in its own session: expire every due authorisation and relationship request;
    returns how many were expired."""
    with Session(engine) as session:
        return expire_due_requests(session) + expire_due_relationship_requests(session)


async def run_every(
    interval_seconds: float,
    one_pass: Callable[[], int],
    *,
    what: str,
    done: str,
) -> None:
    """Run ``one_pass`` now and then every ``interval_seconds``, each pass in a worker thread (the
    loop of a lifespan task). ``what`` names the work in the log ("expiring authorisation
    requests"), ``done`` says what a pass returning N did ("Expired %s request(s)").

    An error is logged and the loop goes on; cancelling the task (the backend stopping) ends it,
    after the pass in progress, if any, has finished (so its transaction ends first).
    """
    logger.info("%s every %s s started", what.capitalize(), interval_seconds)
    while True:
        run = asyncio.ensure_future(asyncio.to_thread(one_pass))
        try:
            count = await asyncio.shield(run)
        except asyncio.CancelledError:
            await _finish(run, what)
            logger.info("%s stopped", what.capitalize())
            raise
        except Exception:
            logger.exception("%s failed; trying again in %s s", what.capitalize(), interval_seconds)
        else:
            if count:
                logger.info(done, count)
        await asyncio.sleep(interval_seconds)


async def _finish(run: asyncio.Future[int], what: str) -> None:
    """Wait for a pass interrupted by cancellation, so its transaction ends before the loop does."""
    try:
        await run
    except Exception:
        logger.exception("%s failed while stopping", what.capitalize())


async def expiry_loop(
    app: rx.App | None = None,
    *,
    interval_seconds: float = EXPIRY_INTERVAL_SECONDS,
    engine: Engine | None = None,
) -> None:
    """Expire due authorisation and relationship requests now and then every ``interval_seconds``
    (a lifespan task; see ``run_every``)."""
    engine = engine or get_engine()
    await run_every(
        interval_seconds,
        lambda: expire_requests_once(engine),
        what="expiring authorisation requests",
        done="Expired %s authorisation request(s)",
    )
