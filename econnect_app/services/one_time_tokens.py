"""Emailed single-use links (password reset, invitation, address confirmation, address claim).

Only a token's SHA-256 hash is stored (``OneTimeToken``). A link is used up by ``claim``, a
conditional UPDATE (``used_at IS NULL`` and unexpired) that is the first write of the use case:
of two simultaneous requests with the same link, the second waits for the first and then finds
the link used, so a link never works twice (no check-then-write).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from econnect_app import security
from econnect_app.models import OneTimeToken, utcnow

# A link emailed to an address held by someone who never proved it: following it proves the
# address, so a new sign-up may take it over (see ``address_holders``). Stored like the other
# purposes, as a short string.
ADDRESS_CLAIM = "address_claim"


def issue(
    session: Session,
    *,
    purpose: str,
    lifetime: timedelta,
    user_id: int | None,
    user_email_id: int | None = None,
    now: datetime | None = None,
) -> str:
    """Add a fresh token to the caller's transaction and return the raw token for the link."""
    now = now or utcnow()
    raw, token_hash = security.new_token()
    session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=token_hash,
            user_id=user_id,
            user_email_id=user_email_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return raw


def find_usable(session: Session, *, token: str, purpose: str) -> OneTimeToken | None:
    """The unused, unexpired token of ``purpose`` for a raw token (read-only), if any."""
    if not token or not isinstance(token, str):
        return None
    row = session.exec(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == security.hash_token(token),
            OneTimeToken.purpose == purpose,
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def claim(session: Session, row: OneTimeToken, *, now: datetime | None = None) -> bool:
    """Use the token up if nobody has yet (conditional UPDATE); False when it was used meanwhile."""
    now = now or utcnow()
    result = session.execute(
        update(OneTimeToken)
        .where(
            col(OneTimeToken.id) == row.id,
            col(OneTimeToken.used_at).is_(None),
            col(OneTimeToken.expires_at) > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    row.used_at = now
    return True


def void_unused(
    session: Session,
    *,
    purpose: str,
    user_id: int,
    primary_only: bool = False,
    now: datetime | None = None,
) -> None:
    """Use up every unused token of ``purpose`` of a user (a newer link replaces them).

    ``primary_only``: only the tokens about the primary address (no ``user_email_id``).
    """
    statement = (
        update(OneTimeToken)
        .where(
            col(OneTimeToken.user_id) == user_id,
            col(OneTimeToken.purpose) == purpose,
            col(OneTimeToken.used_at).is_(None),
        )
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if primary_only:
        statement = statement.where(col(OneTimeToken.user_email_id).is_(None))
    session.execute(statement)


def void_all_of_user(session: Session, *, user_id: int, now: datetime | None = None) -> None:
    """Use up every unused link of a user, whatever it is for (the account is closed)."""
    session.execute(
        update(OneTimeToken)
        .where(col(OneTimeToken.user_id) == user_id, col(OneTimeToken.used_at).is_(None))
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


def has_usable(session: Session, *, purpose: str, user_id: int) -> bool:
    """Whether the user has an unused, unexpired token of ``purpose`` (e.g. a live invitation)."""
    statement = select(OneTimeToken.id).where(
        OneTimeToken.user_id == user_id,
        OneTimeToken.purpose == purpose,
        col(OneTimeToken.used_at).is_(None),
        OneTimeToken.expires_at > utcnow(),
    )
    return session.exec(statement.limit(1)).first() is not None

