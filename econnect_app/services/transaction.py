"""The transaction of one use case, and what follows its commit.

``committing`` is the one way a service commits a use case: on leaving the block it checks that
product data written in the transaction comes with its activity row (``effects.require_activity``)
and commits; ``services/effects.py`` then publishes the live change of every environment the
written rows belong to. On any error nothing is committed and nothing is published.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from econnect_app.services import effects


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Commit the use case's writes at the end; roll back on any error and re-raise it."""
    try:
        yield session
        effects.require_activity(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
