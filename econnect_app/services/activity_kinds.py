"""What the ``action`` values of the activity log mean, in words people read (no Reflex).

An action is ``<kind>.<what happened>`` (``authorisation.created``). The log page's "What" filter
offers the kinds (``KINDS``: "Authorisation requests", ...); its column and the CSV export name
each action (``action_label``). An action this list does not know yet is still named: its kind's
words and the rest of the action in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass

from econnect_app import i18n


@dataclass(frozen=True)
class ActivityKind:
    """A group of actions: their shared prefix (``key``) and how the filter names them (English,
    marked with ``i18n.N_``: ``kind_label`` translates it)."""

    key: str
    label: str


KINDS: tuple[ActivityKind, ...] = (
    ActivityKind("app_connection", i18n.N_("App connections")),
    ActivityKind("authorisation", i18n.N_("Authorisation requests")),
    ActivityKind("client_connect", i18n.N_("Client Connect")),
    ActivityKind("configurations", i18n.N_("Configurations")),
    ActivityKind("keys", i18n.N_("Connection keys")),
    ActivityKind("document", i18n.N_("Documents")),
    ActivityKind("email", i18n.N_("Email delivery")),
    ActivityKind("environment", i18n.N_("Environment and settings")),
    ActivityKind("export", i18n.N_("Exports to accounting packages")),
    ActivityKind("membership", i18n.N_("Organisation members")),
    ActivityKind("organisation", i18n.N_("Organisations")),
    ActivityKind("partnership", i18n.N_("Partnerships")),
    ActivityKind("relationship_request", i18n.N_("Relationship requests")),
    ActivityKind("user", i18n.N_("Users and accounts")),
)
_KIND_LABELS = {kind.key: kind.label for kind in KINDS}

ACTION_LABELS: dict[str, str] = {
    "app_connection.connected": i18n.N_("App connected"),
    "app_connection.disconnected": i18n.N_("App disconnected"),
    "authorisation.accepted": i18n.N_("Authorisation request accepted"),
    "authorisation.created": i18n.N_("Authorisation request sent"),
    "authorisation.declined": i18n.N_("Authorisation request declined"),
    "authorisation.expired": i18n.N_("Authorisation request expired"),
    "authorisation.reminded": i18n.N_("Authorisation reminder sent"),
    "authorisation.replaced": i18n.N_("Authorisation request replaced"),
    "authorisation.resent": i18n.N_("Authorisation request resent"),
    "authorisation.withdrawn": i18n.N_("Authorisation request withdrawn"),
    "client_connect.link_created": i18n.N_("Client Connect link created"),
    "client_connect.link_regenerated": i18n.N_("Client Connect link regenerated"),
    "client_connect.owner_asked": i18n.N_("Owner asked to connect"),
    "configurations.archived": i18n.N_("Configuration archived"),
    "configurations.connection_changed": i18n.N_("Configuration connection changed"),
    "configurations.created": i18n.N_("Configuration created"),
    "configurations.modified": i18n.N_("Configuration modified"),
    "configurations.signed_in": i18n.N_("Configuration signed in"),
    "document.uploaded": i18n.N_("Document uploaded"),
    "email.retried": i18n.N_("Email sent again"),
    "environment.created": i18n.N_("Environment created"),
    "environment.onboarded": i18n.N_("Onboarding completed"),
    "environment.reminders_updated": i18n.N_("Reminder settings changed"),
    "environment.time_zone_changed": i18n.N_("Time zone changed"),
    "environment.updated": i18n.N_("Environment settings changed"),
    "export.configuration_chosen": i18n.N_("Export configuration chosen"),
    "export.invoice_activated": i18n.N_("Invoice export activated"),
    "export.invoice_backfilled": i18n.N_("Earlier invoices exported"),
    "export.invoice_deactivated": i18n.N_("Invoice export deactivated"),
    "export.retried": i18n.N_("Export retried"),
    "export.sharing_off": i18n.N_("Document sharing turned off"),
    "export.sharing_on": i18n.N_("Document sharing turned on"),
    "export.statement_activated": i18n.N_("Statement export activated"),
    "export.statement_backfilled": i18n.N_("Earlier statements exported"),
    "export.statement_deactivated": i18n.N_("Statement export deactivated"),
    "keys.created": i18n.N_("Key set created"),
    "keys.previous_secret_revoked": i18n.N_("Previous Secret revoked"),
    "keys.revoked": i18n.N_("Key set revoked"),
    "keys.rotated": i18n.N_("Key set rotated"),
    "membership.accepted": i18n.N_("Membership invitation accepted"),
    "membership.added": i18n.N_("Member added"),
    "membership.declined": i18n.N_("Membership invitation declined"),
    "membership.invited": i18n.N_("Member invited"),
    "membership.removed": i18n.N_("Member removed"),
    "membership.role_changed": i18n.N_("Member role changed"),
    "organisation.activated": i18n.N_("Organisation activated"),
    "organisation.added": i18n.N_("Organisation added"),
    "organisation.e_invoices_changed": i18n.N_("E-invoicing changed"),
    "organisation.findable_changed": i18n.N_("Findable changed"),
    "partnership.cost_allocation_changed": i18n.N_("Cost allocation changed"),
    "partnership.created": i18n.N_("Partnership started"),
    "partnership.ended": i18n.N_("Partnership ended"),
    "partnership.manager_connected": i18n.N_("Relationship manager connected"),
    "partnership.manager_disconnected": i18n.N_("Relationship manager disconnected"),
    "relationship_request.accepted": i18n.N_("Relationship request accepted"),
    "relationship_request.declined": i18n.N_("Relationship request declined"),
    "relationship_request.expired": i18n.N_("Relationship request expired"),
    "relationship_request.sent": i18n.N_("Relationship request sent"),
    "relationship_request.withdrawn": i18n.N_("Relationship request withdrawn"),
    "user.address_released": i18n.N_("Email address released"),
    "user.blocked": i18n.N_("User blocked"),
    "user.email_added": i18n.N_("Email address added"),
    "user.email_confirmed": i18n.N_("Email address confirmed"),
    "user.email_released": i18n.N_("Additional address released"),
    "user.email_removed": i18n.N_("Email address removed"),
    "user.invitation_resent": i18n.N_("Invitation resent"),
    "user.invited": i18n.N_("User invited"),
    "user.joined": i18n.N_("User joined"),
    "user.language_changed": i18n.N_("Language changed"),
    "user.password_changed": i18n.N_("Password changed"),
    "user.password_reset": i18n.N_("Password reset"),
    "user.relationship_manager_changed": i18n.N_("Relationship manager role changed"),
    "user.role_changed": i18n.N_("Role changed"),
    "user.signed_up": i18n.N_("Signed up"),
    "user.unblocked": i18n.N_("User unblocked"),
}


def kind_label(key: str) -> str | None:
    """How the "What" filter names a kind of action (in the language in effect); None for a key
    that is no kind."""
    label = _KIND_LABELS.get(key)
    return i18n.gettext(label) if label else None


def action_label(action: str) -> str:
    """An action in words: "Authorisation request sent" for ``authorisation.created``; an action
    not listed here reads as its kind and the rest ("Partnerships: terms changed"). In the
    language in effect (the rest of an unlisted action stays as the action spells it)."""
    known = ACTION_LABELS.get(action)
    if known:
        return i18n.gettext(known)
    prefix, _, rest = action.partition(".")
    words = rest.replace("_", " ").strip()
    kind = kind_label(prefix) or prefix.replace("_", " ").strip().capitalize()
    return f"{kind}: {words}" if words else kind
