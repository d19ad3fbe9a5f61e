"""Authorisation requests: an accountant asks a client for access to one of the client's organisations.

Life of a request. The accountant sends it (``sending``; many at once from a CSV file,
``import_csv``): it is created ``Pending`` with one emailed link (``links``; only the token's hash
is stored). Resending voids every earlier link and emails a fresh one; a new request to the same
client email from the same environment replaces the pending one (which becomes ``Withdrawn`` with
``replaced_by_id``); the accountant may withdraw it. The client answers once, ``Accepted`` or
``Declined`` (``answering``). A request not answered by its ``expires_at`` is ``Expired``: reads
show it so at once (``queries``) and the backend's periodic task writes it down (``expiry``).
Withdrawing, answering and expiry void the links. Rows are never deleted and every status change
writes an activity row.

Callers use the names re-exported here.
"""

from econnect_app.services.authorisations._answer import (
    NOT_ALLOWED_MESSAGE,
    OWN_ENVIRONMENT_MESSAGE,
    REQUEST_NOT_FOUND_MESSAGE,
)
from econnect_app.services.authorisations._common import (
    PENDING,
    STATUS_CHOICES,
    SUBJECT_TYPE,
    VIEW_ROLE_MESSAGE,
)
from econnect_app.services.authorisations._input import CHOOSE_PACKAGE_MESSAGE, OWN_ADDRESS_MESSAGE
from econnect_app.services.authorisations.answering import (
    ACCEPTED_NOTIFICATION_LINK,
    CHOOSE_ORGANISATION_MESSAGE,
    DECLINE_REASON_MAX_LENGTH,
    DECLINED_NOTIFICATION_LINK,
    AcceptOutcome,
    accept_request,
    decline_request,
)
from econnect_app.services.authorisations.bulk import (
    BULK_MAX,
    BulkOutcome,
    resend_each,
    withdraw_each,
)
from econnect_app.services.authorisations.expiry import expire_due_requests
from econnect_app.services.authorisations.import_csv import (
    CSV_COLUMNS,
    MAX_IMPORT_ROWS,
    MISSING_COLUMNS_MESSAGE,
    TEMPLATE_FILENAME,
    BulkImportResult,
    ImportPreview,
    ReadyRow,
    RowError,
    csv_template,
    import_requests_csv,
    preview_import,
)
from econnect_app.services.authorisations.links import (
    ActivationView,
    LinkAlreadyUsed,
    LinkExpired,
    LinkPaused,
    LinkReplaced,
    LinkUnknown,
    LinkWithdrawn,
    look_up_link,
)
from econnect_app.services.authorisations.queries import (
    REQUEST_SORT_KEYS,
    IncomingRequestRow,
    RequestRow,
    count_pending,
    incoming_requests,
    matching_request_ids,
    requests_page,
)
from econnect_app.services.authorisations.sending import (
    NOT_FOUND_MESSAGE,
    ONLY_PENDING_RESEND,
    ONLY_PENDING_WITHDRAW,
    PLAN_MESSAGE,
    RACE_MESSAGE,
    ROLE_MESSAGE,
    SEND_ACTIONS,
    create_request,
    replaced_request,
    resend_request,
    why_cannot_send,
    withdraw_request,
)

__all__ = [
    "BULK_MAX",
    "BulkOutcome",
    "resend_each",
    "withdraw_each",
    "ACCEPTED_NOTIFICATION_LINK",
    "CHOOSE_ORGANISATION_MESSAGE",
    "CHOOSE_PACKAGE_MESSAGE",
    "CSV_COLUMNS",
    "DECLINED_NOTIFICATION_LINK",
    "DECLINE_REASON_MAX_LENGTH",
    "MAX_IMPORT_ROWS",
    "MISSING_COLUMNS_MESSAGE",
    "NOT_ALLOWED_MESSAGE",
    "NOT_FOUND_MESSAGE",
    "ONLY_PENDING_RESEND",
    "ONLY_PENDING_WITHDRAW",
    "OWN_ADDRESS_MESSAGE",
    "OWN_ENVIRONMENT_MESSAGE",
    "PENDING",
    "PLAN_MESSAGE",
    "RACE_MESSAGE",
    "REQUEST_NOT_FOUND_MESSAGE",
    "REQUEST_SORT_KEYS",
    "ROLE_MESSAGE",
    "SEND_ACTIONS",
    "STATUS_CHOICES",
    "SUBJECT_TYPE",
    "TEMPLATE_FILENAME",
    "VIEW_ROLE_MESSAGE",
    "AcceptOutcome",
    "ActivationView",
    "BulkImportResult",
    "ImportPreview",
    "IncomingRequestRow",
    "LinkAlreadyUsed",
    "LinkExpired",
    "LinkPaused",
    "LinkReplaced",
    "LinkUnknown",
    "LinkWithdrawn",
    "ReadyRow",
    "RequestRow",
    "RowError",
    "accept_request",
    "count_pending",
    "create_request",
    "csv_template",
    "decline_request",
    "expire_due_requests",
    "import_requests_csv",
    "incoming_requests",
    "matching_request_ids",
    "requests_page",
    "look_up_link",
    "preview_import",
    "replaced_request",
    "resend_request",
    "why_cannot_send",
    "withdraw_request",
]
