"""Writing down expiry: Pending requests past their ``expires_at`` become Expired.

Reads do not wait for this: they already show such a request as Expired (``_common.has_status``).
The backend's periodic task (``econnect_app/maintenance.py``) calls ``expire_due_requests``, which
voids the links and writes the activity row.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from econnect_app.models import AuthorisationRequest, utcnow
from econnect_app.services.authorisations._common import PENDING, expire_request
from econnect_app.services.transaction import committing


def expire_due_requests(session: Session, *, now: datetime | None = None) -> int:
    """Mark every Pending request past its expiry as Expired (links voided, one activity row each).

    Idempotent and safe to run concurrently: a row expires only while it is still Pending. With
    nothing due it is one indexed query and commits nothing. Returns how many it expired.
    """
    now = now or utcnow()
    due = list(
        session.exec(
            select(AuthorisationRequest).where(
                AuthorisationRequest.status == PENDING,
                col(AuthorisationRequest.expires_at) <= now,
            )
        )
    )
    if not due:
        return 0
    with committing(session):
        expired = [request for request in due if expire_request(session, request, now=now)]
        for request in expired:
            session.refresh(request)
    return len(expired)
