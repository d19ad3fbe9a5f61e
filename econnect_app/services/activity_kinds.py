"""What the ``action`` values of the activity log mean, in words people read (no Reflex).

An action is ``<kind>.<what happened>`` (``authorisation.created``). The log page's "What" filter
offers the kinds (``KINDS``: "Authorisation requests", ...); its column and the CSV export name
each action (``action_label``). An action this list does not know yet is still named: its kind's
words and the rest of the action in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActivityKind:
    """A group of actions: their shared prefix (``key``) and how the filter names them."""

    key: str
    label: str


KINDS: tuple[ActivityKind, ...] = (
    ActivityKind("app_connection", "App connections"),
    ActivityKind("authorisation", "Authorisation requests"),
    ActivityKind("client_connect", "Client Connect"),
    ActivityKind("configurations", "Configurations"),
    ActivityKind("keys", "Connection keys"),
    ActivityKind("document", "Documents"),
    ActivityKind("email", "Email delivery"),
    ActivityKind("environment", "Environment and settings"),
    ActivityKind("export", "Exports to accounting packages"),
    ActivityKind("membership", "Organisation members"),
    ActivityKind("organisation", "Organisations"),
    ActivityKind("partnership", "Partnerships"),
    ActivityKind("relationship_request", "Relationship requests"),
    ActivityKind("user", "Users and accounts"),
)
_KIND_LABELS = {kind.key: kind.label for kind in KINDS}

ACTION_LABELS: dict[str, str] = {
    "app_connection.connected": "App connected",
    "app_connection.disconnected": "App disconnected",
    "authorisation.accepted": "Authorisation request accepted",
    "authorisation.created": "Authorisation request sent",
    "authorisation.declined": "Authorisation request declined",
    "authorisation.expired": "Authorisation request expired",
    "authorisation.reminded": "Authorisation reminder sent",
    "authorisation.replaced": "Authorisation request replaced",
    "authorisation.resent": "Authorisation request resent",
    "authorisation.withdrawn": "Authorisation request withdrawn",
    "client_connect.link_created": "Client Connect link created",
    "client_connect.link_regenerated": "Client Connect link regenerated",
    "client_connect.owner_asked": "Owner asked to connect",
    "configurations.archived": "Configuration archived",
    "configurations.connection_changed": "Configuration connection changed",
    "configurations.created": "Configuration created",
    "configurations.modified": "Configuration modified",
    "configurations.signed_in": "Configuration signed in",
    "document.uploaded": "Document uploaded",
    "email.retried": "Email sent again",
    "environment.created": "Environment created",
    "environment.onboarded": "Onboarding completed",
    "environment.reminders_updated": "Reminder settings changed",
    "environment.time_zone_changed": "Time zone changed",
    "environment.updated": "Environment settings changed",
    "export.configuration_chosen": "Export configuration chosen",
    "export.invoice_activated": "Invoice export activated",
    "export.invoice_backfilled": "Earlier invoices exported",
    "export.invoice_deactivated": "Invoice export deactivated",
    "export.retried": "Export retried",
    "export.sharing_off": "Document sharing turned off",
    "export.sharing_on": "Document sharing turned on",
    "export.statement_activated": "Statement export activated",
    "export.statement_backfilled": "Earlier statements exported",
    "export.statement_deactivated": "Statement export deactivated",
    "keys.created": "Key set created",
    "keys.previous_secret_revoked": "Previous Secret revoked",
    "keys.revoked": "Key set revoked",
    "keys.rotated": "Key set rotated",
    "membership.accepted": "Membership invitation accepted",
    "membership.added": "Member added",
    "membership.declined": "Membership invitation declined",
    "membership.invited": "Member invited",
    "membership.removed": "Member removed",
    "membership.role_changed": "Member role changed",
    "organisation.activated": "Organisation activated",
    "organisation.added": "Organisation added",
    "organisation.e_invoices_changed": "E-invoicing changed",
    "organisation.findable_changed": "Findable changed",
    "partnership.cost_allocation_changed": "Cost allocation changed",
    "partnership.created": "Partnership started",
    "partnership.ended": "Partnership ended",
    "partnership.manager_connected": "Relationship manager connected",
    "partnership.manager_disconnected": "Relationship manager disconnected",
    "relationship_request.accepted": "Relationship request accepted",
    "relationship_request.declined": "Relationship request declined",
    "relationship_request.expired": "Relationship request expired",
    "relationship_request.sent": "Relationship request sent",
    "relationship_request.withdrawn": "Relationship request withdrawn",
    "user.address_released": "Email address released",
    "user.blocked": "User blocked",
    "user.email_added": "Email address added",
    "user.email_confirmed": "Email address confirmed",
    "user.email_released": "Additional address released",
    "user.email_removed": "Email address removed",
    "user.invitation_resent": "Invitation resent",
    "user.invited": "User invited",
    "user.joined": "User joined",
    "user.password_changed": "Password changed",
    "user.password_reset": "Password reset",
    "user.relationship_manager_changed": "Relationship manager role changed",
    "user.role_changed": "Role changed",
    "user.signed_up": "Signed up",
    "user.unblocked": "User unblocked",
}


def kind_label(key: str) -> str | None:
    """How the "What" filter names a kind of action; None for a key that is no kind."""
    return _KIND_LABELS.get(key)


def action_label(action: str) -> str:
    """An action in words: "Authorisation request sent" for ``authorisation.created``; an action
    not listed here reads as its kind and the rest ("Partnerships: terms changed")."""
    known = ACTION_LABELS.get(action)
    if known:
        return known
    prefix, _, rest = action.partition(".")
    words = rest.replace("_", " ").strip()
    kind = _KIND_LABELS.get(prefix) or prefix.replace("_", " ").strip().capitalize()
    return f"{kind}: {words}" if words else kind
