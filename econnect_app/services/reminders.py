"""Automatic reminders: pending clients are emailed their authorisation request again.

Each environment chooses "remind pending clients every N days, at most M times"
(``Environment.reminder_every_days`` and ``reminder_max``; 0 days turns reminders off; by default
every 7 days, at most 2 times). Administrators change it in Settings (``update_reminder_settings``).

A reminder is due for a request that is Pending and unexpired, of an environment whose plan
includes partnerships and whose reminders are on, when it has had fewer than M reminders and was
last sent (``last_sent_at``: the first email, a manual Resend or the previous reminder) at least N
days ago. So a manual Resend postpones the next reminder, and the Resend limits (interval, per day)
neither block a reminder nor are needed: the reminders of a request are at most M, N days apart.

A reminder is a resend (``sending.send_again``): a fresh link and a new expiry, earlier links void,
the email saying "This is reminder 1 of 2.", ``reminders_sent`` counted up and an activity row
("Automatic reminder 1 of 2 sent to ..."), in one transaction per request. The change is a
conditional UPDATE (still Pending, unexpired and ``send_count`` unchanged since it was read), so of
two workers (or a reminder and a manual Resend) at the same moment only one sends; the other
writes nothing. The backend runs ``send_due_reminders`` periodically
(``econnect_app/reminders_worker.py``), with ``now`` injectable for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import (
    AuthorisationRequest,
    Environment,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.services import activity
from econnect_app.services.authorisations._common import PENDING, describe, record_activity
from econnect_app.services.authorisations.sending import send_again
from econnect_app.services.permissions import PARTNERSHIP_PLANS, load_actor, require_role
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldErrors

EVERY_DAYS_MAX = 60
REMINDERS_MAX = 10
# How many reminders one pass sends at most; the rest go out in the next pass.
BATCH_SIZE = 200

EVERY_DAYS_FIELD = "reminder_every_days"
MAX_FIELD = "reminder_max"
# The field messages, marked for translation (``{most}``: the largest number allowed); the
# ``..._MESSAGE`` constants are their English text.
EVERY_DAYS_TEXT = i18n.N_("Enter a whole number of days from 0 to {most} (0 turns automatic reminders off).")
MAX_TEXT = i18n.N_("Enter a whole number of reminders from 0 to {most}.")
EVERY_DAYS_MESSAGE = EVERY_DAYS_TEXT.format(most=EVERY_DAYS_MAX)
MAX_MESSAGE = MAX_TEXT.format(most=REMINDERS_MAX)
ACTION = "authorisation.reminded"
SETTINGS_ACTION = "environment.reminders_updated"

_WHOLE_NUMBER = re.compile(r"^[0-9]{1,4}$")


@dataclass(frozen=True)
class ReminderSettings:
    """An environment's reminder settings."""

    every_days: int
    max_reminders: int

    @property
    def is_on(self) -> bool:
        return _is_on(self.every_days, self.max_reminders)


def describe_settings(every_days: int, max_reminders: int) -> str:
    """The settings in a sentence: "every 7 days, at most 2 times" or "off" (in the language in effect)."""
    if not _is_on(every_days, max_reminders):
        return i18n.gettext("off")
    days = (
        i18n.gettext("every day") if every_days == 1 else i18n.gettext("every {days} days", days=every_days)
    )
    times = (
        i18n.gettext("once")
        if max_reminders == 1
        else i18n.gettext("at most {most} times", most=max_reminders)
    )
    return f"{days}, {times}"


def _is_on(every_days: int, max_reminders: int) -> bool:
    return every_days > 0 and max_reminders > 0


# --- settings (Administrators) ------------------------------------------------------------------


def reminder_settings(session: Session, *, actor: User) -> ReminderSettings:
    """The reminder settings of the actor's environment (Administrators only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id, populate_existing=True)
    assert environment is not None
    return ReminderSettings(environment.reminder_every_days, environment.reminder_max)


def _whole_number(fields: FieldErrors, field: str, value: int | str, *, most: int, message: str) -> int:
    text = str(value).strip()
    if not _WHOLE_NUMBER.match(text) or int(text) > most:
        fields.add(field, message)
        return 0
    return int(text)


def update_reminder_settings(
    session: Session, *, actor: User, every_days: int | str, max_reminders: int | str
) -> ReminderSettings:
    """Set "remind pending clients every ``every_days`` days, at most ``max_reminders`` times"
    (Administrators only; whole numbers, 0-60 days and 0-10 reminders; 0 days: off).

    ``ValidationFailed`` with a message per field when a value is not allowed; an activity row when
    something changed.
    """
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id, populate_existing=True)
    assert environment is not None
    fields = FieldErrors()
    days = _whole_number(
        fields,
        EVERY_DAYS_FIELD,
        every_days,
        most=EVERY_DAYS_MAX,
        message=i18n.gettext(EVERY_DAYS_TEXT, most=EVERY_DAYS_MAX),
    )
    most = _whole_number(
        fields,
        MAX_FIELD,
        max_reminders,
        most=REMINDERS_MAX,
        message=i18n.gettext(MAX_TEXT, most=REMINDERS_MAX),
    )
    fields.raise_if_any()
    if (environment.reminder_every_days, environment.reminder_max) == (days, most):
        return ReminderSettings(days, most)
    before = describe_settings(environment.reminder_every_days, environment.reminder_max)
    after = describe_settings(days, most)
    with committing(session):
        environment.reminder_every_days = days
        environment.reminder_max = most
        session.add(environment)
        who = actor.name or actor.email
        summary = (
            i18n.gettext("{who} turned automatic reminders to pending clients off.", who=who)
            if not _is_on(days, most)
            else i18n.gettext(
                "{who} set automatic reminders to pending clients to {after} (were {before}).",
                who=who,
                after=after,
                before=before,
            )
        )
        activity.record(
            session,
            environment_id=environment.id,
            actor=actor,
            action=SETTINGS_ACTION,
            summary=summary,
            subject_type="environment",
            subject_id=environment.id,
        )
    return ReminderSettings(days, most)


# --- sending due reminders (the backend's periodic pass) ----------------------------------------


def is_due(request: AuthorisationRequest, environment: Environment, now: datetime) -> bool:
    """Whether ``request`` should get its next automatic reminder at ``now``."""
    return (
        environment.plan in PARTNERSHIP_PLANS
        and environment.reminder_every_days > 0
        and request.status == PENDING
        and request.expires_at > now
        and request.reminders_sent < environment.reminder_max
        and now >= request.last_sent_at + timedelta(days=environment.reminder_every_days)
    )


def due_reminders(session: Session, *, now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """The ids of the requests due for a reminder at ``now``, longest waiting first."""
    statement = (
        select(AuthorisationRequest, Environment)
        .join(Environment, col(Environment.id) == col(AuthorisationRequest.environment_id))
        .where(
            AuthorisationRequest.status == PENDING,
            col(AuthorisationRequest.expires_at) > now,
            # At least one day since the last send (the smallest interval); is_due checks the rest.
            col(AuthorisationRequest.last_sent_at) <= now - timedelta(days=1),
            col(AuthorisationRequest.reminders_sent) < col(Environment.reminder_max),
            col(Environment.reminder_every_days) > 0,
            col(Environment.plan).in_(PARTNERSHIP_PLANS),
        )
        .order_by(col(AuthorisationRequest.last_sent_at), col(AuthorisationRequest.id))
    )
    due: list[int] = []
    for request, environment in session.exec(statement):
        if is_due(request, environment, now):
            due.append(request.id)  # type: ignore[arg-type]
            if len(due) >= limit:
                break
    return due


def send_reminder(session: Session, request: AuthorisationRequest, *, now: datetime) -> bool:
    """Send ``request`` its next reminder in one transaction, if it is (still) due at ``now``.

    False, with nothing written, when it is not due, or when it changed since ``request`` was read
    (answered, withdrawn, resent, or reminded by another worker): the UPDATE is conditional on the
    status, the expiry and the ``send_count`` that was read.
    """
    environment = session.get(Environment, request.environment_id, populate_existing=True)
    if environment is None or not is_due(request, environment, now):
        return False
    package = session.get(SoftwarePackage, request.software_package_id)
    requester = session.get(User, request.requested_by_id)
    if package is None or requester is None:
        return False
    number, most = request.reminders_sent + 1, environment.reminder_max
    with committing(session):
        sent = send_again(
            session,
            request,
            now=now,
            requester=requester,
            environment=environment,
            package=package,
            reminder=(number, most),
            reminders_sent=number,
        )
        if sent:
            record_activity(
                session,
                request,
                actor=None,
                action=ACTION,
                summary=i18n.gettext(
                    "Automatic reminder {number} of {most} sent to {request}.",
                    number=number,
                    most=most,
                    request=describe(request),
                ),
            )
    return sent


def send_due_reminders(session: Session, *, now: datetime | None = None) -> int:
    """Send every reminder due at ``now`` (default: the current time), one transaction per request;
    returns how many were sent. With nothing due it is one query and commits nothing."""
    now = now or utcnow()
    sent = 0
    for request_id in due_reminders(session, now=now):
        request = session.get(AuthorisationRequest, request_id, populate_existing=True)
        if request is None:
            continue
        # Written as the firm writes to its clients: in the language of who sent the request.
        with i18n.in_language(_language_of(session, request.requested_by_id)):
            if send_reminder(session, request, now=now):
                sent += 1
    return sent


def _language_of(session: Session, user_id: int) -> str | None:
    """The language a user chose (None: their browser's, which a background task cannot know)."""
    user = session.get(User, user_id)
    return user.language if user else None


def reminders_note(every_days: int, max_reminders: int) -> str:
    """What the settings mean, for the Settings page."""
    if not _is_on(every_days, max_reminders):
        return i18n.gettext("Automatic reminders are off: pending clients are not reminded.")
    return i18n.gettext(
        "Clients who have not answered an authorisation request are emailed it again {schedule}, "
        "each time with a new link.",
        schedule=describe_settings(every_days, max_reminders),
    )
