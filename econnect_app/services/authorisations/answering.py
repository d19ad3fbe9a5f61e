"""The client answers a request: accept or decline, by its link or from the incoming list.

A request is answered exactly once: accepting or declining first *claims* it with a conditional
UPDATE (Pending -> Accepted/Declined, only while unexpired), so two concurrent answers or a double
click give one result and the other gets ``LinkAlreadyUsed``. The steps both answers share
(find, check, claim, activity on both sides, notification, email) are in ``_answer.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.formatting import display_name, sentence
from econnect_app.models import AuthorisationStatus, Environment, Organisation, SoftwarePackage, User, utcnow
from econnect_app.services import activity, memberships, organisations, partnerships
from econnect_app.services.authorisations._answer import Answer, AnswerWording
from econnect_app.services.errors import ValidationFailed
from econnect_app.services.validation import without_nul

DECLINE_REASON_MAX_LENGTH = 500
CHOOSE_ORGANISATION_MESSAGE = i18n.N_("Choose one of your organisations or create a new one.")
ACCEPTED_NOTIFICATION_LINK = routes.KEYS
DECLINED_NOTIFICATION_LINK = routes.AUTHORISATIONS
_NEW_ORGANISATION_FIELDS = ("name", "kvk_number", "vat_number", "street", "postal_code", "city")

ACCEPTED = AnswerWording(
    status=AuthorisationStatus.ACCEPTED.value,
    firm_summary=i18n.N_(
        "{actor} of {client_environment} accepted the authorisation request to {email} for {organisation}"
    ),
    client_summary=i18n.N_("{actor} accepted the authorisation request from {firm} for {organisation}"),
    notification=i18n.N_("{client} accepted your authorisation request for {organisation}"),
    action="authorisation.accepted",
    template="authorisation_accepted",
    link=ACCEPTED_NOTIFICATION_LINK,
)
DECLINED = AnswerWording(
    status=AuthorisationStatus.DECLINED.value,
    firm_summary=i18n.N_(
        "{actor} of {client_environment} declined the authorisation request to {email} for {organisation}"
    ),
    client_summary=i18n.N_("{actor} declined the authorisation request from {firm} for {organisation}"),
    notification=i18n.N_("{client} declined your authorisation request for {organisation}"),
    action="authorisation.declined",
    template="authorisation_declined",
    link=DECLINED_NOTIFICATION_LINK,
)


@dataclass(frozen=True)
class AcceptOutcome:
    """The result of accepting a request."""

    request_id: int
    partnership_id: int
    organisation_id: int
    organisation_name: str
    firm_name: str


# --- accept -------------------------------------------------------------------------------------


def _choose_organisation(
    session: Session,
    *,
    actor: User,
    organisation_id: int | None,
    new_organisation: dict[str, Any] | None,
) -> Organisation | organisations.OrganisationInput:
    """The chosen own organisation, or the validated fields of the one to create (no writes)."""
    if (organisation_id is None) == (new_organisation is None):
        raise ValidationFailed({"organisation": i18n.gettext(CHOOSE_ORGANISATION_MESSAGE)})
    if organisation_id is not None:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or organisation.environment_id != actor.environment_id:
            raise ValidationFailed({"organisation": i18n.gettext(CHOOSE_ORGANISATION_MESSAGE)})
        return organisation
    assert new_organisation is not None
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    organisations.require_room_for_organisation(session, environment=environment)
    return organisations.clean_organisation_input(
        session,
        environment_id=actor.environment_id,
        **{field: str(new_organisation.get(field) or "") for field in _NEW_ORGANISATION_FIELDS},
    )


def _organisation_for(
    answer: Answer, choice: Organisation | organisations.OrganisationInput, *, software_package_id: int
) -> Organisation:
    """The chosen organisation, activated (with its activity row) if it was not, or the new one."""
    if isinstance(choice, Organisation):
        organisation = choice
        if organisation.activated_at is None:
            organisation.activated_at = utcnow()
            activity.record(
                answer.session,
                environment_id=answer.client_environment.id,
                actor=answer.actor,
                action="organisation.activated",
                summary=sentence(
                    i18n.gettext(
                        "{actor} activated organisation {organisation}",
                        actor=answer.actor_name,
                        organisation=organisation.name,
                    )
                ),
                subject_type="organisation",
                subject_id=organisation.id,
            )
    else:
        organisation = organisations.add_organisation_rows(
            answer.session,
            actor=answer.actor,
            data=choice,
            activated=True,
            software_package_id=software_package_id,
        )
    if organisation.software_package_id is None:
        organisation.software_package_id = software_package_id
    return organisation


def _record_partnership_and_membership(
    answer: Answer,
    *,
    organisation: Organisation,
    partnership_id: int,
    partnership_created: bool,
    member_added: bool,
) -> None:
    """The activity rows of what accepting started: the partnership (both sides), the membership."""
    firm, client_environment = answer.firm, answer.client_environment
    if partnership_created:
        for environment_id, partner in ((firm.id, client_environment), (client_environment.id, firm)):
            activity.record(
                answer.session,
                environment_id=environment_id,
                actor=answer.actor,
                action="partnership.created",
                summary=sentence(i18n.gettext("Partnership with {partner} started", partner=partner.name)),
                subject_type="partnership",
                subject_id=partnership_id,
            )
    if member_added:
        activity.record(
            answer.session,
            environment_id=client_environment.id,
            actor=answer.actor,
            action="membership.added",
            summary=sentence(
                i18n.gettext(
                    "{member} of {firm} became a Member of {organisation}",
                    member=display_name(answer.requester),
                    firm=firm.name,
                    organisation=organisation.name,
                )
            ),
            subject_type="organisation",
            subject_id=organisation.id,
        )


def accept_request(
    session: Session,
    *,
    user: User,
    token: str | None = None,
    request_id: int | None = None,
    organisation_id: int | None = None,
    new_organisation: dict[str, Any] | None = None,
    answer_for_address: bool = False,
) -> AcceptOutcome:
    """Accept a request for an own organisation (chosen or created), in one transaction.

    The partnership of the two environments is created or reused, the organisation is activated,
    the requesting accountant becomes a Member of it, both environments get activity rows, the
    requesting environment a notification and the requester an email. ``answer_for_address``:
    see ``Answer.begin``.
    """
    answer = Answer.begin(
        session, ACCEPTED, user=user, token=token, request_id=request_id, answer_for_address=answer_for_address
    )
    actor, request, firm = answer.actor, answer.request, answer.firm
    choice = _choose_organisation(
        session, actor=actor, organisation_id=organisation_id, new_organisation=new_organisation
    )
    package = session.get(SoftwarePackage, request.software_package_id)
    try:
        with answer.claimed():
            organisation = _organisation_for(answer, choice, software_package_id=request.software_package_id)
            partnership, partnership_created = partnerships.get_or_create_partnership(
                session,
                environment_id=answer.client_environment.id,  # type: ignore[arg-type]
                partner_environment_id=firm.id,  # type: ignore[arg-type]
                initiator_environment_id=firm.id,  # type: ignore[arg-type]
                created_via="authorisation_request",
            )
            request.client_organisation_id = organisation.id
            request.partnership_id = partnership.id
            # The client's environment has its activated organisation now: it is onboarded.
            organisations.record_onboarding(session, environment=answer.client_environment, actor=actor)
            member_added = memberships.ensure_membership(
                session,
                organisation_id=organisation.id,  # type: ignore[arg-type]
                user_id=answer.requester.id,  # type: ignore[arg-type]
                created_by_id=actor.id,  # type: ignore[arg-type]
            )
            answer.record(organisation_name=organisation.name)
            _record_partnership_and_membership(
                answer,
                organisation=organisation,
                partnership_id=partnership.id,  # type: ignore[arg-type]
                partnership_created=partnership_created,
                member_added=member_added,
            )
            answer.tell_requester(
                organisation_name=organisation.name,
                email_context={
                    "accepted_by": answer.actor_name,
                    "firm_name": firm.name,
                    "software_name": package.name if package else i18n.gettext("your accounting software"),
                },
            )
            outcome = AcceptOutcome(
                request_id=request.id,  # type: ignore[arg-type]
                partnership_id=partnership.id,  # type: ignore[arg-type]
                organisation_id=organisation.id,  # type: ignore[arg-type]
                organisation_name=organisation.name,
                firm_name=firm.name,
            )
    except IntegrityError:
        if not isinstance(choice, Organisation) and organisations.is_duplicate_kvk(
            session, environment_id=actor.environment_id, kvk_number=choice.kvk_number
        ):
            raise ValidationFailed({"kvk_number": i18n.gettext(organisations.DUPLICATE_KVK_MESSAGE)}) from None
        raise
    return outcome


# --- decline ------------------------------------------------------------------------------------


def decline_request(
    session: Session,
    *,
    user: User,
    token: str | None = None,
    request_id: int | None = None,
    reason: str = "",
    answer_for_address: bool = False,
) -> None:
    """Decline a request (optionally saying why); the requester is notified in the app and by email."""
    answer = Answer.begin(
        session, DECLINED, user=user, token=token, request_id=request_id, answer_for_address=answer_for_address
    )
    clean_reason = without_nul(reason or "").strip()
    if len(clean_reason) > DECLINE_REASON_MAX_LENGTH:
        raise ValidationFailed(
            {
                "reason": i18n.gettext(
                    "Use at most {max_length} characters.", max_length=DECLINE_REASON_MAX_LENGTH
                )
            }
        )
    reason_sentence = " " + i18n.gettext("Reason: {reason}", reason=clean_reason) if clean_reason else ""
    organisation_name = answer.request.organisation_name
    with answer.claimed():
        answer.request.decline_reason = clean_reason or None
        answer.record(organisation_name=organisation_name, reason_sentence=reason_sentence)
        answer.tell_requester(
            organisation_name=organisation_name,
            reason_sentence=reason_sentence,
            email_context={"declined_by": answer.actor_name, "reason": clean_reason},
        )
