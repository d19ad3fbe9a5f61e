"""The authenticated session shared by every page state, and the one way page states load and act.

The browser holds only its own session token (a cookie); the server re-validates it against the
database on every page load and every handler that touches data. Nothing else secret is public.

Loading and acting
------------------
Reflex runs a handler on the worker's event loop, which serves every tab connected to that
worker: a query or a password hash run there would freeze them all. So a page state's handler
never opens the database itself. It writes the work as a function and returns what one of these
helpers returns (an async generator, which Reflex runs to its end)::

    @rx.event
    def add_organisation(self, form: dict[str, Any]) -> Updates:
        def action(db: Session, actor: User) -> Any:
            organisation = organisations.add_organisation(db, actor=actor, name=form.get("name", ""))
            self._refresh(db, actor)
            return rx.toast.success(f"{organisation.name} was added.")

        return self._act(action, form=form)

- ``_act(action, ...)``: what a user does. ``busy`` (and ``busy_with``, naming what runs) is set
  and sent to the browser at once, which disables the forms and shows the button's spinner.
- ``_load(action)``: reading for the page (on_load, filters); no busy state.
- ``_act_public`` / ``_load_public``: the same on pages used without logging in; the action
  receives only the database session.

The action runs in a worker thread with a fresh database session; for the signed-in helpers the
session cookie is re-validated first (an invalid one goes to the log-in page) and the action
receives the current user. Dates and times it formats (``formatting``) are in the time zone of
the user's environment (the default on public pages). It may set this state's vars (the tab's
state stays locked for the whole event, so nothing else touches them meanwhile) and returns the
events to send (a toast, a redirect). ``ValidationFailed`` fills ``field_errors`` (shown next to the fields); any other
``DomainError`` becomes an error toast. A handler that must do more around the work (a loading
flag) is itself an async generator: ``async for update in self._load(...): yield update``.

A double click sends nothing twice: every form (``components.forms.app_form``) carries
``action_id`` in a hidden field, and buttons that change data pass ``AuthState.action_id`` to
their handler; ``_act`` accepts each (activity, id) once and issues a new id, so the repeat of a
submission it has already accepted is ignored.

Every handler of a state below ``AuthState`` checks its payload against its type hints before it
runs (``state/payloads.py``): a client may send any event with any payload, and one that does not
fit gets an error toast instead of a server exception.

When a login ends (log-out, or a cookie found expired, revoked or missing while the tab still
showed a user), ``_end_login`` forgets it and ``_perform`` resets every page state after the work,
so nothing of that user stays in the tab's state; starting a session resets the other page states
too. A tab logged out elsewhere is emptied and sent to the log-in page by the live updates
(``state/live.py``).

Work that may take longer than a second (the CSV import) is a background event instead
(``@rx.event(background=True)``): it changes state only inside short ``async with self`` blocks,
runs the work with ``off_loop.ThreadWithProgress`` and reports progress on the page.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import quote

import reflex as rx
from reflex.event import EventHandler
from reflex.state import _override_base_method
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.db import db_session
from econnect_app.formatting import DEFAULT_TIME_ZONE, in_time_zone
from econnect_app.models import Environment, Role, User
from econnect_app.services import caller, environments, organisations, sessions
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.settings import get_settings
from econnect_app.state import payloads
from econnect_app.state.live_tabs import live_sessions, watch
from econnect_app.state.off_loop import run_off_loop

SESSION_COOKIE = "econnect_session"
# Pages an administrator may open before onboarding is finished (the plan is chosen in Settings).
ONBOARDING_OPEN_PATHS = frozenset({routes.ONBOARDING, routes.SETTINGS, routes.PROFILE})
# The hidden field of every form that says which form it is and which action id it was shown with.
ACTION_ID_FIELD = "action_id"
ACCEPTED_ACTIONS_KEPT = 20
# What to forget once the tab's login has ended (``_forget_pending``): every page state, or every
# page state but the one whose public page is being loaded for the now anonymous visitor.
FORGET_EVERY_PAGE = "every page"
FORGET_OTHER_PAGES = "other pages"

PRODUCT_NAME = "eConnect"

Updates = AsyncIterator[Any]
"""What a handler built on the helpers returns: Reflex sends each update as it comes."""
SignedInAction = Callable[[Session, User], Any]
PublicAction = Callable[[Session], Any]


def page_title(name: str, language: str = i18n.ENGLISH) -> str:
    """The browser tab's title of the page ``name`` (English, marked with ``N_``) in ``language``
    (``components/translated.tab_title`` shows it in the tab's language)."""
    if name == PRODUCT_NAME:
        return name
    return f"{i18n.translate(language, name)} · {PRODUCT_NAME}"


def session_cookie_options() -> dict[str, Any]:
    """The session cookie's options, compiled into the frontend in the mode it is built for.

    Secure in production (the browser sends it over https only). SameSite=Strict: the page's own
    JavaScript reads the cookie and sends it with the hydrate event, so a tab opened from an
    emailed link (a cross-site navigation) is logged in all the same. Not HttpOnly: Reflex keeps
    client storage in ``document.cookie``, which cannot hold an HttpOnly cookie (docs/security.md).
    """
    settings = get_settings()
    return {
        "name": SESSION_COOKIE,
        "path": "/",
        "same_site": "strict",
        "secure": not settings.dev_mode,
        "max_age": settings.session_absolute_hours * 3600,
    }


def row_activity(kind: str, row_id: int | rx.Var) -> Any:
    """The name of an action on one row (e.g. "resend-5"), for ``busy_with``: built the same way by
    the handler (an int) and by the page (the row's Var)."""
    if isinstance(row_id, rx.Var):
        return kind + "-" + row_id.to(int).to_string()
    return f"{kind}-{row_id}"


class AuthState(rx.State):
    """Who is logged in, as far as the browser may know it, and what this tab is busy with."""

    session_cookie: str = rx.Cookie("", **session_cookie_options())
    signed_in: bool = False
    user_name: str = ""
    user_email: str = ""
    user_role: str = ""
    is_relationship_manager: bool = False
    environment_name: str = ""
    environment_plan: str = ""
    client_only: bool = False  # a client's environment that sent no requests: accountant parts hidden
    field_errors: dict[str, str] = {}
    busy: bool = False
    busy_with: str = ""
    action_id: str = ""
    language: str = i18n.DEFAULT_LANGUAGE  # the tab's: the user's choice, else the browser's

    _user_id: int | None = None
    _user_language: str = ""  # the logged-in user's choice ("" = the browser's)
    _accepted_actions: list[str] = []
    _forget_pending: str = ""  # FORGET_EVERY_PAGE / FORGET_OTHER_PAGES once the login has ended

    @classmethod
    @_override_base_method  # Reflex's own mark for a state overriding one of its methods
    def _create_event_handler(cls, fn: Any, event_handler_cls: type[EventHandler] = EventHandler) -> Any:
        """Every handler of the app's states first checks its payload against its type hints: a
        client may send any event with any payload (``state/payloads.py``)."""
        return super()._create_event_handler(payloads.checked(fn), event_handler_cls)

    @rx.var
    def is_admin(self) -> bool:
        """Whether the user is an Administrator of the environment (for showing navigation)."""
        return self.user_role == Role.ADMINISTRATOR.value

    @rx.var
    def can_manage_partnerships(self) -> bool:
        """Advanced users and Administrators work with authorisations, partners and keys."""
        return self.user_role in (Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)

    @rx.var
    def user_initials(self) -> str:
        """Initials for the avatar in the header."""
        parts = (self.user_name or self.user_email).split()
        return "".join(part[0] for part in parts[:2]).upper() or "?"

    # --- who is logged in -----------------------------------------------------------------------

    def _show_user(self, db: Session | None, user: User | None) -> None:
        if user is None:
            self.signed_in = False
            self._user_id = None
            self.user_name = self.user_email = self.user_role = ""
            self.environment_name = self.environment_plan = ""
            self.is_relationship_manager = False
            self.client_only = False
            self._user_language = ""
            self.language = self._tab_language()
            return
        assert db is not None
        environment = db.get(Environment, user.environment_id)
        self.signed_in = True
        self._user_id = user.id
        self.user_name = user.name
        self.user_email = user.email
        self.user_role = user.role
        self.is_relationship_manager = user.is_relationship_manager
        self.environment_name = environment.name if environment else ""
        self.environment_plan = environment.plan if environment else ""
        self.client_only = environments.is_client_only(db, environment_id=user.environment_id)
        self._user_language = user.language or ""
        self.language = self._tab_language()

    def _tab_language(self) -> str:
        """The language of this tab: the logged-in user's choice, else the browser's first."""
        return i18n.supported_language(self._user_language) or i18n.browser_language(
            self.router.headers.accept_language
        )

    @rx.event
    def pick_language(self) -> Any:
        """First on_load of every page: show it in the tab's language (its title too, see
        ``tab_title``) and say which language it is to the browser (screen readers, spelling)."""
        self.language = self._tab_language()
        return self._show_language()

    def _show_language(self) -> Any:
        """Tell the browser the tab's language (``<html lang>``)."""
        return rx.call_script(f"document.documentElement.lang = {json.dumps(self.language)}")

    def _current_user(self, db: Session) -> User | None:
        """Re-validate the session cookie against the database and refresh what is shown.

        When the tab had a login that is no longer valid (logged out elsewhere, expired, blocked),
        the tab forgets it: the cookie, and every other page state (``_perform`` resets them).
        """
        had_login = bool(self.session_cookie) or self.signed_in
        user = sessions.authenticate(db, token=self.session_cookie or None)
        if user is None and had_login:
            self._end_login(FORGET_OTHER_PAGES)
        self._show_user(db, user)
        return user

    def _end_login(self, forget: str) -> None:
        """Forget this tab's login (in the action's thread): who is shown, the cookie, the live
        updates; ``_perform`` then resets the page states (``forget`` says which)."""
        self._show_user(None, None)
        self.session_cookie = ""
        if self._forget_pending != FORGET_EVERY_PAGE:
            self._forget_pending = forget
        token = self.router.session.client_token
        if token:
            live_sessions.forget(token)

    async def _forget_page_states(self) -> None:
        """Reset the page states after a login ended or a new one started, so nothing of the
        previous user stays in this tab's state (a rehydrated or reconnected tab gets it whole).

        Each is loaded first: with Redis an event loads only its own state's branch.
        """
        forget, self._forget_pending = self._forget_pending, ""
        for page_state in AuthState.get_substates():
            if forget == FORGET_OTHER_PAGES and isinstance(self, page_state):
                continue  # a public page loading for the now anonymous visitor keeps what it loaded
            state = await self.get_state(page_state)
            state.reset()

    def _login_redirect(self) -> rx.event.EventSpec:
        path = self.router.url.path or routes.DASHBOARD
        return rx.redirect(f"{routes.LOGIN}?next={quote(path)}")

    def _start_session(self, db: Session, user: User, token: str) -> None:
        """Show ``user`` as logged in with the session ``token``; the other page states start empty."""
        self.session_cookie = token
        self._show_user(db, user)
        if not self._forget_pending:
            self._forget_pending = FORGET_OTHER_PAGES

    def _link_token(self) -> str:
        """The token of an emailed link: the last segment of this page's path."""
        return routes.last_path_segment(self.router.url.path)

    def _log_in_as(self, db: Session, user: User) -> None:
        """Start a fresh server-side session for ``user`` in this browser."""
        token = sessions.start_session(db, user=user, user_agent=self.router.headers.user_agent)
        self._start_session(db, user, token)

    def _welcome(self, db: Session, user: User, message: str) -> list[Any]:
        """After an emailed single-use link was used: log in and continue to the dashboard."""
        self._log_in_as(db, user)
        return [rx.redirect(routes.DASHBOARD), rx.toast.success(message)]

    def _follow_live_changes(self, user: User) -> None:
        """Keep the parts of every signed-in page (the notifications bell) live in this tab."""
        token = self.router.session.client_token
        if token:
            live_sessions.watch(token, environment_id=user.environment_id)

    # --- the helpers every handler uses (see the module docstring) ------------------------------

    def _act(
        self,
        action: SignedInAction,
        *,
        form: dict[str, Any] | None = None,
        busy_with: str = "",
        action_id: str | None = None,
        on_start: Any = None,
    ) -> Updates:
        """Do ``action(db, actor)`` for the logged-in user, off the event loop, showing busy.

        ``form``: the submitted form (its hidden field names the form and carries its action id).
        ``busy_with`` and ``action_id``: for a button, what it does (e.g. ``row_activity(...)``)
        and the ``AuthState.action_id`` it was clicked with. ``on_start``: events sent with the
        busy state, before the work (sent only when the action is accepted).
        """
        return self._perform(
            self._as_signed_in_user(action), busy=True, form=form, busy_with=busy_with,
            action_id=action_id, on_start=on_start,
        )  # fmt: skip

    def _act_public(
        self,
        action: PublicAction,
        *,
        form: dict[str, Any] | None = None,
        busy_with: str = "",
        executor: Executor | None = None,
    ) -> Updates:
        """Do ``action(db)`` (a page used without logging in), off the event loop, showing busy
        (on a thread of ``executor`` when given: ``off_loop.PASSWORD_CHECKS`` for log-ins)."""
        return self._perform(
            self._with_domain_errors(action), busy=True, form=form, busy_with=busy_with, executor=executor
        )

    def _load(self, action: SignedInAction) -> Updates:
        """Read for the logged-in user (``action(db, actor)``) off the event loop."""
        return self._perform(self._as_signed_in_user(action), busy=False)

    def _load_live(self) -> Updates:
        """Follow the environment's changes live in this tab and read the page with its
        ``_live_refresh(db, user)`` (the on_load of a page that shows data others can change).

        The tab is registered before the read: a change committed after the read started is then
        pushed to it (the push waits for this handler to let go of the tab's state), never lost
        between the read and the registration.
        """

        def action(db: Session, actor: User) -> None:
            watch(self, environment_id=actor.environment_id)
            self._live_refresh(db, actor)  # type: ignore[attr-defined]

        return self._load(action)

    def _load_public(self, action: PublicAction) -> Updates:
        """Read for a page used without logging in (``action(db)``) off the event loop."""
        return self._perform(self._with_domain_errors(action), busy=False)

    def _as_signed_in_user(self, action: SignedInAction) -> Callable[[], Any]:
        """The work of a signed-in action: re-validate the session, then run the action (dates and
        times in the time zone of the user's environment)."""

        client = self.router.session.client_ip

        def work() -> Any:
            with caller.calling_from(client), db_session() as db:
                actor = self._current_user(db)
                if actor is None:
                    if self._forget_pending:
                        self._forget_pending = FORGET_EVERY_PAGE  # this page's state too
                    return self._login_redirect()
                zone = environments.time_zone_of(db, environment_id=actor.environment_id)
                with in_time_zone(zone), i18n.in_language(self.language):
                    return self._outcome(db, lambda: action(db, actor))

        return work

    def _with_domain_errors(self, action: PublicAction) -> Callable[[], Any]:
        """The work of a public action: run it with a database session (times in the default zone;
        a page of an emailed link sets its environment's with ``in_time_zone``)."""

        client = self.router.session.client_ip

        def work() -> Any:
            with (
                caller.calling_from(client),
                db_session() as db,
                in_time_zone(DEFAULT_TIME_ZONE),
                i18n.in_language(self._tab_language()),
            ):
                return self._outcome(db, lambda: action(db))

        return work

    def _outcome(self, db: Session, call: Callable[[], Any]) -> Any:
        """What ``call`` returns; a refusal becomes field errors or an error toast."""
        try:
            return call()
        except ValidationFailed as error:
            db.rollback()
            self.field_errors = error.errors
            return None
        except DomainError as error:
            db.rollback()
            return rx.toast.error(error.message)

    async def _perform(
        self,
        work: Callable[[], Any],
        *,
        busy: bool,
        form: dict[str, Any] | None = None,
        busy_with: str = "",
        action_id: str | None = None,
        on_start: Any = None,
        executor: Executor | None = None,
    ) -> Updates:
        """Run ``work`` in a worker thread; with ``busy``, the browser shows it meanwhile."""
        if form is not None and ACTION_ID_FIELD in form:
            busy_with, _, action_id = str(form[ACTION_ID_FIELD]).rpartition(":")
        if not self._accept_once(busy_with, action_id):
            return  # the repeat of an accepted submission (a double click): nothing to do
        self.field_errors = {}
        if busy:
            self.busy = True
            self.busy_with = busy_with
        yield on_start
        try:
            outcome = await run_off_loop(work, executor)
        except Exception:
            self._end_busy()
            yield  # the page leaves its busy state before Reflex reports the error
            raise
        finally:
            self._end_busy()
        if self._forget_pending:
            await self._forget_page_states()
        yield outcome

    def _end_busy(self) -> None:
        if self.busy:
            self.busy = False
            self.busy_with = ""

    def _accept_once(self, activity: str, action_id: str | None) -> bool:
        """Whether to run an action: each (activity, action id) once; a new action id follows."""
        if action_id is None:
            return True
        key = f"{activity}:{action_id}"
        if key in self._accepted_actions:
            return False
        self._accepted_actions = [*self._accepted_actions[-(ACCEPTED_ACTIONS_KEPT - 1) :], key]
        self.action_id = secrets.token_urlsafe(9)
        return True

    # --- loading and leaving --------------------------------------------------------------------

    @rx.event
    def require_login(self) -> Updates:
        """on_load of every signed-in page: valid session, and onboarding first when due."""

        def check(db: Session, user: User) -> Any:
            self._follow_live_changes(user)
            if (
                self.router.url.path.rstrip("/") not in ONBOARDING_OPEN_PATHS
                and user.role == Role.ADMINISTRATOR.value
                and organisations.needs_onboarding(db, user=user)
            ):
                return rx.redirect(routes.ONBOARDING)
            return None

        return self._load(check)

    @rx.event
    def redirect_if_signed_in(self) -> Updates:
        """on_load of the public account pages: a logged-in user goes to the dashboard."""

        def check(db: Session) -> Any:
            if self._current_user(db) is None:
                return None
            next_path = self.router.url.query_parameters.get("next")
            return rx.redirect(routes.safe_next_path(next_path, routes.DASHBOARD))

        return self._load_public(check)

    @rx.event
    def route_home(self) -> Updates:
        """The root path: dashboard when logged in, otherwise the log-in page."""

        def choose(db: Session) -> Any:
            return rx.redirect(routes.DASHBOARD if self._current_user(db) else routes.LOGIN)

        return self._load_public(choose)

    @rx.event
    def log_out(self) -> Updates:
        """End this session on the server and forget the cookie."""

        def end_session(db: Session) -> Any:
            sessions.log_out(db, token=self.session_cookie or None)
            self._end_login(FORGET_EVERY_PAGE)
            return [rx.redirect(routes.LOGIN), rx.toast.info("You are logged out.")]

        return self._act_public(end_session)
