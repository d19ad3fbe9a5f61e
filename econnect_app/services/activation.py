"""TEMPORARY shim: the client's side of a request moved to ``econnect_app.services.authorisations``.

Kept only so pages that still import ``activation`` keep working while they move over; the lead
removes it afterwards. Import from ``econnect_app.services.authorisations`` instead.
"""

from econnect_app.services.authorisations import (
    ACCEPTED_NOTIFICATION_LINK,
    CHOOSE_ORGANISATION_MESSAGE,
    DECLINE_REASON_MAX_LENGTH,
    DECLINED_NOTIFICATION_LINK,
    NOT_ALLOWED_MESSAGE,
    OWN_ENVIRONMENT_MESSAGE,
    REQUEST_NOT_FOUND_MESSAGE,
    AcceptOutcome,
    ActivationView,
    IncomingRequestRow,
    LinkAlreadyUsed,
    LinkExpired,
    LinkReplaced,
    LinkUnknown,
    LinkWithdrawn,
    accept_request,
    decline_request,
    incoming_requests,
    look_up_link,
)

__all__ = [
    "ACCEPTED_NOTIFICATION_LINK",
    "CHOOSE_ORGANISATION_MESSAGE",
    "DECLINED_NOTIFICATION_LINK",
    "DECLINE_REASON_MAX_LENGTH",
    "NOT_ALLOWED_MESSAGE",
    "OWN_ENVIRONMENT_MESSAGE",
    "REQUEST_NOT_FOUND_MESSAGE",
    "AcceptOutcome",
    "ActivationView",
    "IncomingRequestRow",
    "LinkAlreadyUsed",
    "LinkExpired",
    "LinkReplaced",
    "LinkUnknown",
    "LinkWithdrawn",
    "accept_request",
    "decline_request",
    "incoming_requests",
    "look_up_link",
]
