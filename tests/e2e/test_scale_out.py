"""Scale-out: two backend processes (production mode, Redis, PostgreSQL) behind one address.

The proxy in front of the backends (backend_proxy.py) routes each browser context by its
User-Agent, so these tests choose which backend each person's websocket is on, and check it in
the proxy's records. They run only with ECONNECT_E2E_WORKERS=2 (and Redis); see live_app.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flows import accountant_ready, client_signs_up_from_link, log_in, send_authorisation_request
from live_app import AppServer, E2EConfig, E2EConfigError
from mail_catcher import MailCatcher
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from econnect_app.claims import STALE_CLAIM_AFTER, release_stale_claims
from econnect_app.mail.delivery import OUTBOX
from econnect_app.models import OutboxMessage, OutboxStatus, utcnow


def _scaled() -> bool:
    try:
        return E2EConfig.from_environment().scaled
    except E2EConfigError:
        return False


pytestmark = pytest.mark.skipif(
    not _scaled(),
    reason="needs two backend workers: set ECONNECT_E2E_WORKERS=2 and ECONNECT_TEST_REDIS_URL "
    "(and ECONNECT_TEST_DB_URL for PostgreSQL), e.g. `make test-scale`",
)

PUSH_TIMEOUT_MS = 5_000
RESTART_TIMEOUT_S = 120


def _other(app_server: AppServer, backend: str) -> str:
    return next(name for name in sorted(app_server.backends) if name != backend)


def test_a_client_accepting_on_one_backend_updates_the_dashboard_open_on_the_other(
    new_context: Callable[..., BrowserContext],
    app_server: AppServer,
    unique_email,
    mailbox: MailCatcher,
    app_db,
) -> None:
    proxy = app_server.proxy
    assert proxy is not None
    accountant_email = unique_email("anna")
    client_email = unique_email("piet")
    accountant = new_context(user_agent=app_server.user_agent("a"))
    client_context = new_context(user_agent=app_server.user_agent("b"))

    dashboard = accountant.new_page()
    accountant_ready(
        dashboard, email=accountant_email, name="Anna de Vries", firm="De Vries Accountants", kvk="45678901"
    )
    dashboard.goto("/dashboard")
    expect(dashboard.locator("#stat-active-partnerships")).to_have_text("0")
    expect(dashboard.locator("#stat-client-organisations")).to_have_text("0")
    dashboard.evaluate("window.__notReloaded = true")

    work = accountant.new_page()
    send_authorisation_request(
        work, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Piet BV"
    )
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("1")
    link = mailbox.wait_for_email(client_email, subject_contains="De Vries Accountants").link_to("/activate/")

    client = client_context.new_page()
    client_signs_up_from_link(
        client, link=link, email=client_email, name="Piet Bakker", company="Bakkerij Piet"
    )
    client.get_by_label("KvK number", exact=True).fill("56789012")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    # Accepted on backend b; pushed into the dashboard whose websocket is on backend a.
    expect(dashboard.locator("#stat-active-partnerships")).to_have_text("1", timeout=PUSH_TIMEOUT_MS)
    expect(dashboard.locator("#stat-client-organisations")).to_have_text("1", timeout=PUSH_TIMEOUT_MS)
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("0", timeout=PUSH_TIMEOUT_MS)
    assert dashboard.evaluate("window.__notReloaded") is True

    accountant_sockets = proxy.websockets(wanted="a")
    client_sockets = proxy.websockets(wanted="b")
    assert accountant_sockets and {record.backend for record in accountant_sockets} == {"a"}
    assert client_sockets and {record.backend for record in client_sockets} == {"b"}
    # The dashboard's socket stayed open on a the whole time (no reconnect, no reload).
    assert any(record.open for record in accountant_sockets)


# --- graceful shutdown and restart ---------------------------------------------------------------


class MailHold:
    """Keeps the SMTP DATA of messages to one address waiting until `release()`: the message is
    then "in flight" in the sending backend (claimed, status 'sending', mid-conversation)."""

    def __init__(self, catcher: MailCatcher, address: str) -> None:
        self._controller = catcher._controller  # aiosmtpd builds each connection's SMTP from .handler
        self._inner = self._controller.handler
        self.address = address.lower()
        self.arrived = threading.Event()
        self._released = threading.Event()
        self.peer: tuple[str, int] | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 (aiosmtpd's hook)
        if any(recipient.lower() == self.address for recipient in envelope.rcpt_tos):
            self.peer = session.peer
            self.arrived.set()
            await asyncio.to_thread(self._released.wait, 120)
        return await self._inner.handle_DATA(server, session, envelope)

    def release(self) -> None:
        """Let the held message through."""
        self._released.set()

    def __enter__(self) -> MailHold:
        self._controller.handler = self  # connections opened from now on (the app opens one per run)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._controller.handler = self._inner


def _owner_of_connection(app_server: AppServer, local_port: int) -> str | None:
    """The backend whose process owns the loopback TCP connection with this local port (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(fields[9])
    for name, backend in app_server.backends.items():
        for pid in backend.pids:
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        target = str(fd.readlink())
                        if target.startswith("socket:[") and target[8:-1] in inodes:
                            return name
    return None


def _backends_listening_for_live_updates(app_server: AppServer) -> set[str]:
    """The backends whose live-update subscriber (econnect_app.live) is connected to Redis. It
    disconnects when the worker's lifespan tasks are cancelled, the delivery loop's among them."""
    assert app_server.redis_url is not None
    client = redis.Redis.from_url(app_server.redis_url)
    try:
        subscribers = [
            entry
            for entry in client.client_list()
            if str(entry.get("name", "")).startswith("econnect-live-") and "P" in str(entry.get("flags", ""))
        ]
    finally:
        client.close()
    owners = {
        _owner_of_connection(app_server, int(str(entry["addr"]).rsplit(":", 1)[1])) for entry in subscribers
    }
    return {owner for owner in owners if owner is not None}


def _wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Check `condition` every 50 ms until it holds (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}")
        pause.wait(0.05)


def _outbox(app_db, address: str) -> list[OutboxMessage]:
    with app_db() as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.to_address) == address)).all())


@pytest.fixture()
def restart_stopped_backends(app_server: AppServer) -> Iterator[None]:
    """Whatever happens in the test, every backend runs again afterwards (for the next tests)."""
    yield
    for name, backend in app_server.backends.items():
        if not backend.running:
            app_server.start_backend(name, timeout=RESTART_TIMEOUT_S)


def _logged_in_dashboard(context: BrowserContext, *, email: str) -> Page:
    page = context.new_page()
    page.goto("/login")
    log_in(page, email=email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    return page


def test_sigterm_finishes_the_mail_in_flight_and_the_open_dashboard_reconnects_after_the_restart(
    new_context: Callable[..., BrowserContext],
    app_server: AppServer,
    unique_email,
    mailbox: MailCatcher,
    app_db,
    app_engine: Engine,
    restart_stopped_backends: None,
) -> None:
    proxy = app_server.proxy
    assert proxy is not None
    accountant_email = unique_email("anna")
    held_email, queued_email, later_email = (
        unique_email("held"),
        unique_email("queued"),
        unique_email("later"),
    )
    accountant = new_context(user_agent=app_server.user_agent("a"))
    setup = accountant.new_page()
    accountant_ready(
        setup, email=accountant_email, name="Anna de Vries", firm="De Vries Accountants", kvk="45678901"
    )

    # The user has the dashboard open in two browsers, one on each backend.
    dashboards = {
        name: _logged_in_dashboard(
            new_context(user_agent=app_server.user_agent(name)), email=accountant_email
        )
        for name in sorted(app_server.backends)
    }
    for name in dashboards:
        proxy.wait_for(
            lambda records, name=name: any(r.open and r.websocket and r.wanted == name for r in records),
            what=f"a dashboard websocket on backend {name}",
        )

    _wait_until(
        lambda: _backends_listening_for_live_updates(app_server) == set(app_server.backends),
        timeout=30,
        what="every backend to listen for live updates",
    )

    with MailHold(mailbox, held_email) as hold:
        # A request whose email gets stuck mid-delivery in whichever backend claims it: that
        # backend is the one stopped below (found by the SMTP connection's owner in /proc).
        send_authorisation_request(setup, client_name="Held", client_email=held_email, organisation="Held BV")
        assert hold.arrived.wait(30), "the app did not start delivering the email"
        assert hold.peer is not None
        stopping = _owner_of_connection(app_server, hold.peer[1])
        assert stopping is not None, "no backend owns the SMTP connection"
        surviving = _other(app_server, stopping)
        assert [message.status for message in _outbox(app_db, held_email)] == [OutboxStatus.SENDING.value]

        # Another email is queued just before the stop, by the user on that backend (its delivery
        # loop is busy: the other backend's sends it).
        dashboard = dashboards[stopping]
        send_authorisation_request(
            dashboard, client_name="Queued", client_email=queued_email, organisation="Queued BV"
        )
        dashboard.get_by_role("link", name="Dashboard").click()
        expect(dashboard.locator("#stat-pending-requests")).to_have_text("2")
        dashboard.evaluate("window.__notReloaded = true")
        navigations: list[str] = []
        dashboard.on("framenavigated", lambda frame: navigations.append(frame.url))
        sockets_before = len(proxy.websockets(backend=stopping))

        # SIGTERM, as an orchestrator stops a worker; it waits for the email it is sending.
        log = app_server.backends[stopping].log_path
        log_size = log.stat().st_size
        exit_codes: list[int | None] = []
        terminating = threading.Thread(
            target=lambda: exit_codes.append(app_server.terminate_backend(stopping))
        )
        terminating.start()
        _wait_until(
            lambda: (
                stopping not in _backends_listening_for_live_updates(app_server) or not terminating.is_alive()
            ),
            timeout=30,
            what=f"backend {stopping} to cancel its lifespan tasks",
        )
        waited_for_the_email = terminating.is_alive()
        hold.release()  # the SMTP server answers; the stopping delivery loop records it as sent
        terminating.join(60)
        assert not terminating.is_alive(), "the backend did not exit after SIGTERM"

    with log.open("rb") as stopped_log:
        stopped_log.seek(log_size)
        crashed = b"panicked" in stopped_log.read()
    if not crashed:  # the graceful stop: the email in flight was finished and recorded
        assert waited_for_the_email, "the backend exited without finishing the email it was sending"
        assert exit_codes == [0]
        assert [message.status for message in _outbox(app_db, held_email)] == [OutboxStatus.SENT.value]
        assert len(mailbox.messages_to(held_email)) == 1  # sent once, not lost, not repeated
    else:  # Granian's worker panicked while stopping (see close_websockets in state/live.py)
        warnings.warn(
            f"Backend {stopping} crashed while stopping (Granian panic); checked the outbox recovery instead",
            stacklevel=1,
        )
        # What the outbox does five minutes after a worker died holding a claim: queue it again.
        release_stale_claims(OUTBOX, app_engine, now=utcnow() + STALE_CLAIM_AFTER + timedelta(seconds=1))
        _wait_until(
            lambda: [message.status for message in _outbox(app_db, held_email)] == [OutboxStatus.SENT.value],
            timeout=30,
            what="the surviving backend to send the email the crashed one held",
        )
        assert mailbox.messages_to(held_email)  # delivered: at least once, never lost
    mailbox.wait_for_email(queued_email, subject_contains="De Vries Accountants")  # by the surviving backend
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("2")  # the page stays as it was

    # The backend starts again; the open page reconnects by itself, still logged in.
    app_server.start_backend(stopping, timeout=RESTART_TIMEOUT_S)
    proxy.wait_for(
        lambda records: (
            len([r for r in records if r.websocket and r.backend == stopping]) > sockets_before
            and any(r.open and r.websocket and r.backend == stopping for r in records)
        ),
        what=f"the page to reconnect to backend {stopping}",
    )
    expect(dashboard).to_have_url(re.compile(r"/dashboard/?$"))
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("2")
    assert dashboard.evaluate("window.__notReloaded") is True
    assert not [url for url in navigations if "/login" in url]

    # And it is live again (its page registered again on reconnect): a change made by the same
    # user on the other backend, once the restarted one listens for changes, reaches it.
    _wait_until(
        lambda: stopping in _backends_listening_for_live_updates(app_server),
        timeout=30,
        what=f"backend {stopping} to listen for live updates again",
    )
    other = dashboards[surviving]
    send_authorisation_request(other, client_name="Later", client_email=later_email, organisation="Later BV")
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("3", timeout=PUSH_TIMEOUT_MS)

    mailbox.wait_for_email(later_email, subject_contains="De Vries Accountants")

    def nothing_left_sending() -> bool:
        with app_db() as session:
            statement = select(OutboxMessage.id).where(
                col(OutboxMessage.status) == OutboxStatus.SENDING.value
            )
            return session.exec(statement).first() is None

    _wait_until(nothing_left_sending, timeout=10, what="no outbox message left in status 'sending'")
