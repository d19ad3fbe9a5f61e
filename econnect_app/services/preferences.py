"""A user's own preferences: the language of the pages and emails (no Reflex)."""

from __future__ import annotations

from sqlmodel import Session

from econnect_app import i18n
from econnect_app.formatting import display_name
from econnect_app.models import User
from econnect_app.services import activity
from econnect_app.services.errors import ValidationFailed
from econnect_app.services.transaction import committing

BROWSER_LANGUAGE = ""  # the choice "as my browser": no language stored


def set_language(session: Session, *, actor: User, language: str) -> User:
    """Show ``actor`` the pages and send them emails in ``language`` ("en", "nl"), or in their
    browser's language when it is ``BROWSER_LANGUAGE``. Recorded in the activity log."""
    chosen = i18n.supported_language(language)
    if language != BROWSER_LANGUAGE and chosen is None:
        raise ValidationFailed({"language": i18n.gettext("Choose English or Nederlands.")})
    user = session.get(User, actor.id)
    if user is None:
        raise ValidationFailed({"language": i18n.gettext("Choose English or Nederlands.")})
    with committing(session):
        user.language = chosen
        session.add(user)
        activity.record(
            session,
            environment_id=user.environment_id,
            actor=user,
            action="user.language_changed",
            summary=i18n.gettext(
                "{name} chose {language} as their language.",
                name=display_name(user),
                language=i18n.LANGUAGES[chosen] if chosen else i18n.gettext("the browser's language"),
            ),
            subject_type="user",
            subject_id=user.id,
        )
    return user
