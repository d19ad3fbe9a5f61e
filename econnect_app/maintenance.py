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


async def expiry_loop(
    app: rx.App | None = None,
    *,
    interval_seconds: float = EXPIRY_INTERVAL_SECONDS,
    engine: Engine | None = None,
) -> None:
    """Expire due authorisation requests now and then every ``interval_seconds`` (a lifespan task).

    Each run happens in a worker thread. An error is logged and the loop goes on; cancelling the
    task (the backend stopping) ends it, after the run in progress, if any, has finished.
    """
    engine = engine or get_engine()
    logger.info("Expiry of authorisation requests every %s s started", interval_seconds)
    while True:
        run = asyncio.ensure_future(asyncio.to_thread(expire_requests_once, engine))
        try:
            expired = await asyncio.shield(run)
        except asyncio.CancelledError:
            await _finish(run)
            logger.info("Expiry of authorisation requests stopped")
            raise
        except Exception:
            logger.exception("Expiring authorisation requests failed; trying again in %s s", interval_seconds)
        else:
            if expired:
                logger.info("Expired %s authorisation request(s)", expired)
        await asyncio.sleep(interval_seconds)


async def _finish(run: asyncio.Future[int]) -> None:
    """Wait for a run interrupted by cancellation, so its transaction ends before the loop does."""
    try:
        await run
    except Exception:
        logger.exception("Expiring authorisation requests failed while stopping")
