"""Bulk actions on the accountant's list: Resend or Withdraw many requests, saying what happened
to each.

Each request is its own use case (``resend_request`` / ``withdraw_request``, one transaction each,
with their checks, rate limits and activity): a request that may not be resent or withdrawn any
more (answered, expired, sent too recently) is reported with the reason and leaves the others
untouched, and a bulk action stopped half-way (the backend restarting) has done exactly what its
summary would have listed so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.models import AuthorisationRequest, User
from econnect_app.services.authorisations._common import require_manager
from econnect_app.services.authorisations.sending import resend_request, withdraw_request
from econnect_app.services.errors import DomainError, ValidationFailed

# The most requests one bulk action takes (a firm's whole list at the size the lists are built for).
BULK_MAX = 5000
# Marked for translation; translated where they are used (``TOO_MANY_MESSAGE`` is the English text).
NOTHING_SELECTED_MESSAGE = i18n.N_("Select one or more requests first.")
TOO_MANY_TEXT = i18n.N_("Select at most {most} requests at once.")
TOO_MANY_MESSAGE = TOO_MANY_TEXT.format(most=f"{BULK_MAX:,}")
RESENT = i18n.N_("Sent again with a new link")
WITHDRAWN = i18n.N_("Withdrawn")

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did with one request."""

    request_id: int
    client: str  # "Name <email>", or the id when the request is not the environment's
    done: bool
    message: str  # what was done, or why not (in the language in effect)


def resend_each(
    session: Session, *, actor: User, request_ids: Sequence[int], on_progress: ProgressCallback | None = None
) -> list[BulkOutcome]:
    """Resend every request in ``request_ids`` that may be resent; the outcome of each, in order."""
    return _each(session, actor, request_ids, resend_request, RESENT, on_progress)


def withdraw_each(
    session: Session, *, actor: User, request_ids: Sequence[int], on_progress: ProgressCallback | None = None
) -> list[BulkOutcome]:
    """Withdraw every request in ``request_ids`` that is still pending; the outcome of each, in order."""
    return _each(session, actor, request_ids, withdraw_request, WITHDRAWN, on_progress)


def _each(
    session: Session,
    actor: User,
    request_ids: Sequence[int],
    act: Callable[..., AuthorisationRequest],
    done_message: str,  # English, marked with i18n.N_
    on_progress: ProgressCallback | None,
) -> list[BulkOutcome]:
    actor = require_manager(session, actor)
    unique_ids = list(dict.fromkeys(int(request_id) for request_id in request_ids))
    if not unique_ids:
        raise ValidationFailed({"selection": i18n.gettext(NOTHING_SELECTED_MESSAGE)})
    if len(unique_ids) > BULK_MAX:
        raise ValidationFailed(
            {
                "selection": i18n.gettext(
                    TOO_MANY_TEXT, most=format_decimal(BULK_MAX, locale=i18n.language_in_effect())
                )
            }
        )
    outcomes: list[BulkOutcome] = []
    for position, request_id in enumerate(unique_ids, start=1):
        try:
            request = act(session, actor=actor, request_id=request_id)
            outcomes.append(BulkOutcome(request_id, _client(request), True, i18n.gettext(done_message)))
        except DomainError as refusal:
            session.rollback()
            outcomes.append(BulkOutcome(request_id, _client_of(session, actor, request_id), False, refusal.message))
        if on_progress is not None:
            on_progress(position, len(unique_ids))
    return outcomes


def _client(request: AuthorisationRequest) -> str:
    return f"{request.client_name} <{request.client_email}>"


def _client_of(session: Session, actor: User, request_id: int) -> str:
    """Who a refused request was for, if it is the actor's environment's (else just its number)."""
    request = session.get(AuthorisationRequest, request_id)
    if request is None or request.environment_id != actor.environment_id:
        return i18n.gettext("Request {id}", id=request_id)
    return _client(request)
