"""The transaction of one use case."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Commit the use case's writes at the end; roll back on any error and re-raise it."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
