"""The authenticated session shared by every page state.

The browser holds only its own session token (a cookie); the server re-validates it against the
database on every page load and every handler that touches data. Nothing else secret is public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.db import get_engine
from econnect_app.models import Environment, Role, User
from econnect_app.services import organisations, sessions
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.settings import get_settings

SESSION_COOKIE = "econnect_session"
# Pages an administrator may open before onboarding is finished (the plan is chosen in Settings).
ONBOARDING_OPEN_PATHS = frozenset({routes.ONBOARDING, routes.SETTINGS, routes.PROFILE})


@contextmanager
def db_session() -> Iterator[Session]:
    """A database session for one handler; services commit their own transactions."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


class AuthState(rx.State):
    """Who is logged in, as far as the browser may know it."""

    session_cookie: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        path="/",
        same_site="strict",
        max_age=get_settings().session_absolute_hours * 3600,
    )
    signed_in: bool = False
    user_name: str = ""
    user_email: str = ""
    user_role: str = ""
    is_relationship_manager: bool = False
    environment_name: str = ""
    environment_plan: str = ""
    field_errors: dict[str, str] = {}
    busy: bool = False

    _user_id: int | None = None

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

    def _show_user(self, db: Session, user: User | None) -> None:
        if user is None:
            self.signed_in = False
            self._user_id = None
            self.user_name = self.user_email = self.user_role = ""
            self.environment_name = self.environment_plan = ""
            self.is_relationship_manager = False
            return
        environment = db.get(Environment, user.environment_id)
        self.signed_in = True
        self._user_id = user.id
        self.user_name = user.name
        self.user_email = user.email
        self.user_role = user.role
        self.is_relationship_manager = user.is_relationship_manager
        self.environment_name = environment.name if environment else ""
        self.environment_plan = environment.plan if environment else ""

    def _current_user(self, db: Session) -> User | None:
        """Re-validate the session cookie against the database and refresh what is shown."""
        user = sessions.authenticate(db, token=self.session_cookie or None)
        self._show_user(db, user)
        return user

    def _login_redirect(self) -> rx.event.EventSpec:
        path = self.router.url.path or routes.DASHBOARD
        return rx.redirect(f"{routes.LOGIN}?next={quote(path)}")

    def _start_session(self, db: Session, user: User, token: str) -> None:
        self.session_cookie = token
        self._show_user(db, user)

    def _link_token(self) -> str:
        """The token of an emailed link: the last segment of this page's path."""
        return routes.last_path_segment(self.router.url.path)

    def _redeem_link(self, use: Callable[[Session], User], welcome: str) -> Any:
        """Use an emailed single-use link, then log in and continue to the dashboard.

        Bad input lands in ``field_errors`` (the link stays usable); a dead link raises
        ``InvalidToken`` for the page to explain.
        """
        self.field_errors = {}
        with db_session() as db:
            try:
                user = use(db)
            except ValidationFailed as error:
                self.field_errors = error.errors
                return None
            self._log_in_as(db, user)
        return [rx.redirect(routes.DASHBOARD), rx.toast.success(welcome)]

    def _log_in_as(self, db: Session, user: User) -> None:
        """Start a fresh server-side session for ``user`` in this browser."""
        token = sessions.start_session(db, user=user, user_agent=self.router.headers.user_agent)
        self._start_session(db, user, token)

    def _run(self, action: Callable[[Session, User], Any]) -> Any:
        """Run a page action for the logged-in user, turning domain errors into messages.

        Field errors land in ``field_errors`` (shown next to each field); other domain errors
        become an error toast; an invalid session goes to the log-in page.
        """
        self.field_errors = {}
        with db_session() as db:
            actor = self._current_user(db)
            if actor is None:
                return self._login_redirect()
            try:
                return action(db, actor)
            except ValidationFailed as error:
                db.rollback()
                self.field_errors = error.errors
                return None
            except DomainError as error:
                db.rollback()
                return rx.toast.error(error.message)

    def _watch_bell(self, user: User) -> None:
        """Keep the header's notifications bell live in this tab (after a reconnect too)."""
        from econnect_app.state.live import NotificationsState, live_sessions  # avoids an import cycle

        token = self.router.session.client_token
        if token:
            live_sessions.watch(token, environment_id=user.environment_id, view=NotificationsState)

    @rx.event
    def require_login(self) -> Any:
        """on_load of every signed-in page: valid session, and onboarding first when due."""
        with db_session() as db:
            user = self._current_user(db)
            if user is None:
                return self._login_redirect()
            self._watch_bell(user)
            if (
                self.router.url.path.rstrip("/") not in ONBOARDING_OPEN_PATHS
                and user.role == Role.ADMINISTRATOR.value
                and organisations.needs_onboarding(db, user=user)
            ):
                return rx.redirect(routes.ONBOARDING)
        return None

    @rx.event
    def redirect_if_signed_in(self) -> Any:
        """on_load of the public account pages: a logged-in user goes to the dashboard."""
        with db_session() as db:
            if self._current_user(db) is not None:
                next_path = self.router.url.query_parameters.get("next")
                return rx.redirect(routes.safe_next_path(next_path, routes.DASHBOARD))
        return None

    @rx.event
    def route_home(self) -> Any:
        """The root path: dashboard when logged in, otherwise the log-in page."""
        with db_session() as db:
            user = self._current_user(db)
        return rx.redirect(routes.DASHBOARD if user else routes.LOGIN)

    @rx.event
    def log_out(self) -> Any:
        """End this session on the server and forget the cookie."""
        with db_session() as db:
            sessions.log_out(db, token=self.session_cookie or None)
            self._show_user(db, None)
        self.session_cookie = ""
        return [rx.redirect(routes.LOGIN), rx.toast.info("You are logged out.")]
