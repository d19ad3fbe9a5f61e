"""The export worker: claims due deliveries one at a time, delivers them, retries with backoff,
fails for good with the reason (telling the Administrators), never lets a worker whose claim was
taken over write an outcome, and resumes what a crashed worker left.

Most tests stand a fake in for the target (``targets.deliver``); the last ones deliver to a real
SFTP server on 127.0.0.1 (``tests/support/sftp_server.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from econnect_app import claims, live
from econnect_app.claims import STALE_CLAIM_AFTER
from econnect_app.exports import credentials, targets, worker
from econnect_app.exports.worker import RETRIES, deliver_due, deliver_due_report, export_loop
from econnect_app.models import (
    AccountingConfiguration,
    ConfigurationTarget,
    Document,
    DocumentDelivery,
    DocumentKind,
    Environment,
    Membership,
    MembershipRole,
    Notification,
    Organisation,
    Partnership,
    Plan,
    Role,
    User,
    utcnow,
)
from econnect_app.services import document_store, exports, partnerships
from tests.support.sftp_server import SftpTestServer, running_sftp_server

WAIT_SECONDS = 10  # only ever reached when the code under test is broken
INVOICE = DocumentKind.INVOICE.value


# --- the scene: a firm exporting a client's invoices ----------------------------------------------


@dataclass
class Scene:
    engine: Engine
    firm_id: int
    accountant: User
    organisation_id: int
    configuration_id: int
    uploads: int = 0

    def upload(self, content: bytes | None = None, *, kind: str = INVOICE) -> tuple[int, bytes]:
        """A document uploaded (stored, and queued in the same transaction); its id and bytes."""
        self.uploads += 1
        content = (
            content
            or b"%PDF-1.7\n% invoice " + str(self.uploads).encode() + b"\n" + bytes(range(256)) + b"%%EOF\n"
        )
        stored = document_store.store_bytes(content)
        with Session(self.engine, expire_on_commit=False) as session:
            document = Document(
                organisation_id=self.organisation_id,
                kind=kind,
                format="pdf",
                filename=f"Factuur {self.uploads} (mei).pdf",
                content_type="application/pdf",
                size_bytes=stored.size,
                sha256=stored.sha256,
                storage_key=stored.storage_key,
            )
            session.add(document)
            session.flush()
            assert exports.queue_deliveries_for(session, document) == 1
            session.commit()
            assert document.id is not None
            return document.id, content


def make_scene(engine: Engine, *, configuration: AccountingConfiguration | None = None) -> Scene:
    with Session(engine, expire_on_commit=False) as session:
        firm = Environment(name="Lovelace Accounting", plan=Plan.BASIC.value)
        client = Environment(name="Korenbloem Holding", plan=Plan.BASIC.value)
        session.add_all([firm, client])
        session.flush()
        accountant = User(
            environment_id=firm.id, name="Ada Lovelace", email="ada@lovelace.example",
            role=Role.ADVANCED_USER.value, email_confirmed_at=utcnow(),
        )  # fmt: skip
        session.add_all(
            [
                accountant,
                User(
                    environment_id=firm.id,
                    name="Fiona Firm",
                    email="fiona@lovelace.example",
                    role=Role.ADMINISTRATOR.value,
                ),
                User(
                    environment_id=firm.id,
                    name="Paul Plain",
                    email="paul@lovelace.example",
                    role=Role.USER.value,
                ),
            ]
        )
        organisation = Organisation(
            environment_id=client.id, name="Bakkerij De Korenbloem", kvk_number="12345678",
            identifier="org-korenbloem", activated_at=utcnow(),
        )  # fmt: skip
        session.add(organisation)
        session.flush()
        session.add(
            Membership(
                organisation_id=organisation.id,
                user_id=accountant.id,
                role=MembershipRole.MEMBER.value,
                status="Active",
            )
        )
        partnerships.ensure_partnership(
            session, environment_id=firm.id, partner_environment_id=client.id,
            initiator_environment_id=firm.id, created_via="authorisation_request",
        )  # fmt: skip
        configuration = configuration or AccountingConfiguration(
            name="Lovelace SFTP",
            target=ConfigurationTarget.SFTP.value,
            sftp_host="127.0.0.1",
            sftp_username="accountant",
            sftp_host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2lsKFd7hGU5wz4v2ZpS4xqJ6c1gBw8r0n0kJ2m1x9M",
            credentials_encrypted=credentials.seal({"password": "not used by the fake"}),
            terms_accepted_at=utcnow(),
            environment_id=0,
        )
        configuration.environment_id = firm.id  # type: ignore[assignment]
        session.add(configuration)
        session.commit()
        scene = Scene(
            engine=engine, firm_id=firm.id, accountant=accountant,  # type: ignore[arg-type]
            organisation_id=organisation.id, configuration_id=configuration.id,  # type: ignore[arg-type]
        )  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        exports.set_share_documents(
            session, actor=accountant, organisation_id=scene.organisation_id, share=True
        )
        exports.choose_configuration(
            session,
            actor=accountant,
            organisation_id=scene.organisation_id,
            configuration_id=scene.configuration_id,
        )
        exports.activate_export(
            session, actor=accountant, organisation_id=scene.organisation_id, kind=INVOICE
        )
    return scene


def load(engine: Engine, document_id: int) -> DocumentDelivery:
    with Session(engine) as session:
        delivery = session.exec(
            select(DocumentDelivery).where(DocumentDelivery.document_id == document_id)
        ).one()
        return delivery


def notified(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(User.email, Notification.message)
            .join(User, User.id == Notification.user_id)  # type: ignore[arg-type]
            .order_by(col(Notification.id))
        ).all()
    return [(email, message) for email, message in rows]


# --- a fake target --------------------------------------------------------------------------------


@dataclass
class FakeTarget:
    """Stands in for ``targets.deliver``: records what it received; ``failures`` are raised first,
    in order; ``hold_first`` keeps the first call waiting until ``release`` is set."""

    received: list[tuple[str, str, bytes]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    hold_first: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def __call__(
        self,
        session: Session,
        configuration: AccountingConfiguration,
        *,
        kind: str,
        filename: str,
        data: bytes,
    ) -> str:
        self.calls += 1
        if self.hold_first and self.calls == 1:
            self.holding.set()
            assert self.release.wait(WAIT_SECONDS)
        if self.failures:
            raise self.failures.pop(0)
        self.received.append((kind, filename, data))
        return f"invoices/{filename}"


@pytest.fixture()
def target(monkeypatch: pytest.MonkeyPatch) -> FakeTarget:
    fake = FakeTarget()
    monkeypatch.setattr(targets, "deliver", fake)
    return fake


@pytest.fixture()
def scene(engine: Engine) -> Scene:
    return make_scene(engine)


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def in_background(
    function: Callable[..., object], *args: object, **kwargs: object
) -> concurrent.futures.Future:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> bool:
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


# --- delivered, retried, failed -------------------------------------------------------------------


def test_a_queued_document_is_delivered_byte_for_byte_and_the_log_says_where(
    engine: Engine, scene: Scene, target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", published.append)
    document_id, content = scene.upload()

    assert deliver_due(engine) == 1

    [(kind, filename, data)] = target.received
    assert kind == INVOICE
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(content).hexdigest()
    assert filename.endswith(f"_{document_id}_Factuur_1_mei_.pdf")
    delivery = load(engine, document_id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("Delivered", 1, None)
    assert delivery.remote_path == f"invoices/{filename}"
    assert delivery.delivered_at is not None and delivery.claim_token is None
    assert scene.firm_id in published  # the accountant's open page shows it
    assert deliver_due(engine) == 0  # delivered once


def test_a_failure_that_may_pass_is_retried_with_growing_backoff_then_fails_and_the_administrators_are_told(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    document_id, _ = scene.upload()
    max_attempts = RETRIES.max_attempts
    assert max_attempts == 10
    target.failures = [
        targets.DeliveryError("Could not reach the SFTP server 127.0.0.1:2222: timed out.", retryable=True)
        for _ in range(max_attempts)
    ]
    now = utcnow()

    for attempt in range(1, max_attempts + 1):
        assert deliver_due(engine, now=now) == 1
        delivery = load(engine, document_id)
        assert delivery.attempts == attempt
        assert delivery.last_error == "Could not reach the SFTP server 127.0.0.1:2222: timed out."
        if attempt < max_attempts:
            assert delivery.status == "Retrying"
            assert delivery.next_attempt_at == now + RETRIES.delay_after(attempt)
            assert (
                deliver_due(engine, now=delivery.next_attempt_at - timedelta(seconds=1)) == 0
            )  # not due yet
            now = delivery.next_attempt_at
        else:
            assert delivery.status == "Failed"

    assert target.received == []
    assert deliver_due(engine, now=now + timedelta(days=2)) == 0  # Failed: not tried again by itself
    assert notified(engine) == [
        (
            "fiona@lovelace.example",
            "\u201cFactuur 1 (mei).pdf\u201d of Bakkerij De Korenbloem could not be delivered to \u201cLovelace SFTP\u201d: "
            "Could not reach the SFTP server 127.0.0.1:2222: timed out. Open the organisation to retry.",
        )
    ]
    with Session(engine) as session:
        assert session.get(Document, document_id) is not None  # nothing is lost


def test_backoff_grows_to_six_hours() -> None:
    assert [RETRIES.delay_after(n) for n in range(1, 9)] == [
        timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
        timedelta(hours=1), timedelta(hours=3), timedelta(hours=6), timedelta(hours=6),
    ]  # fmt: skip


def test_a_failure_that_will_not_pass_fails_at_once_and_retry_delivers_it(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    document_id, content = scene.upload()
    target.failures = [targets.DeliveryError("The SFTP server refused the password.", retryable=False)]

    assert deliver_due(engine) == 1

    delivery = load(engine, document_id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "Failed", 1, "The SFTP server refused the password.",
    )  # fmt: skip
    assert [email for email, _ in notified(engine)] == ["fiona@lovelace.example"]

    with Session(engine, expire_on_commit=False) as session:
        exports.retry_delivery(session, actor=scene.accountant, delivery_id=delivery.id)  # type: ignore[arg-type]
    assert deliver_due(engine) == 1
    assert load(engine, document_id).status == "Delivered"
    assert target.received[0][2] == content


def test_one_bad_row_does_not_stop_the_others(engine: Engine, scene: Scene, target: FakeTarget) -> None:
    missing_id, _ = scene.upload()
    with Session(engine) as session:
        document = session.get(Document, missing_id)
        assert document is not None
        document_store.path_of(document.storage_key).unlink()  # the stored file went missing
    broken_id, _ = scene.upload()
    good_id, good_content = scene.upload()
    target.failures = [RuntimeError("a bug in a target")]  # for the second document

    report = deliver_due_report(engine)

    assert report.handled == 3
    missing = load(engine, missing_id)
    assert missing.status == "Retrying"
    assert missing.last_error is not None and "is missing" in missing.last_error
    broken = load(engine, broken_id)
    assert broken.status == "Retrying"
    assert broken.last_error == "Unexpected error: RuntimeError: a bug in a target"
    assert load(engine, good_id).status == "Delivered"
    assert [data for _, _, data in target.received] == [good_content]


def test_a_connection_deactivated_or_a_partnership_ended_meanwhile_delivers_nothing(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    first_id, _ = scene.upload()
    second_id, _ = scene.upload()
    with Session(engine) as session:
        partnership = session.exec(select(Partnership)).one()
        partnership.status = "Ended"
        session.add(partnership)
        session.commit()

    assert deliver_due(engine) == 2

    for document_id in (first_id, second_id):
        delivery = load(engine, document_id)
        assert delivery.status == "Failed"
        assert delivery.attempts == 0  # the target was never tried
        assert delivery.last_error is not None
        assert "The partnership with Korenbloem Holding has ended" in delivery.last_error
    assert target.calls == 0
    assert notified(engine) == []  # someone ended it; nobody needs an alarm


# --- claims ---------------------------------------------------------------------------------------


def test_two_workers_deliver_each_document_exactly_once(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    document_ids = [scene.upload()[0] for _ in range(8)]
    start = threading.Barrier(2)
    handled: list[int] = []

    def run() -> None:
        start.wait()
        handled.append(deliver_due(engine))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(handled) == 8
    assert len(target.received) == 8
    assert {load(engine, document_id).status for document_id in document_ids} == {"Delivered"}


def test_a_slow_delivery_keeps_its_claim_so_a_second_worker_never_delivers_it_again(
    engine: Engine, scene: Scene, target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    document_id, _ = scene.upload()
    clock = FakeClock()
    monkeypatch.setattr(claims, "CLAIM_RENEWAL_EVERY", timedelta(milliseconds=20))
    target.hold_first = True

    first = in_background(deliver_due, engine, clock=clock)
    assert target.holding.wait(WAIT_SECONDS)  # the upload is slow ...
    clock.now += STALE_CLAIM_AFTER + timedelta(minutes=1)  # ... for longer than a claim lasts
    assert wait_until(lambda: load(engine, document_id).claimed_at == clock.now)  # but it is renewed

    assert deliver_due(engine, now=clock.now) == 0  # another backend worker's run leaves it alone
    target.release.set()
    assert first.result(WAIT_SECONDS) == 1

    assert target.calls == 1
    assert load(engine, document_id).status == "Delivered"


def test_only_the_claimant_writes_the_outcome_when_a_stale_claim_was_taken_over(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    """A worker that hung (its claim went stale, another worker delivered the document) cannot
    overwrite the outcome: here its late failure would make a delivered document Failed."""
    document_id, _ = scene.upload()
    hung_at = utcnow()
    target.hold_first = True
    target.failures = [targets.DeliveryError("Connection lost.", retryable=False)]

    hung = in_background(deliver_due_report, engine, now=hung_at)
    assert target.holding.wait(WAIT_SECONDS)
    target.failures = []  # the second worker's upload works
    stale_at = hung_at + STALE_CLAIM_AFTER + timedelta(minutes=1)
    second = deliver_due_report(engine, now=stale_at)
    assert (second.released_stale, second.delivered) == (1, [load(engine, document_id).id])
    target.failures = [targets.DeliveryError("Connection lost.", retryable=False)]
    target.release.set()
    late = hung.result(WAIT_SECONDS)

    assert late.lost == [load(engine, document_id).id] and late.failed == []
    delivery = load(engine, document_id)
    assert (delivery.status, delivery.last_error) == ("Delivered", None)
    assert notified(engine) == []


def test_a_restarted_worker_resumes_what_a_crashed_one_left(
    engine: Engine, scene: Scene, target: FakeTarget
) -> None:
    document_id, content = scene.upload()
    crashed_at = utcnow()
    with Session(engine) as session:
        delivery = session.exec(select(DocumentDelivery)).one()
        delivery.status, delivery.claimed_at, delivery.claim_token = "Delivering", crashed_at, "dead-worker"
        session.add(delivery)
        session.commit()

    # A fresh claim may belong to a worker still uploading: left alone.
    report = deliver_due_report(engine, now=crashed_at + timedelta(minutes=1))
    assert (report.released_stale, report.handled) == (0, 0)
    assert load(engine, document_id).status == "Delivering"

    report = deliver_due_report(engine, now=crashed_at + timedelta(minutes=6))
    assert (report.released_stale, report.handled) == (1, 1)
    assert load(engine, document_id).status == "Delivered"
    assert target.received[0][2] == content


# --- the loop -------------------------------------------------------------------------------------


def run_in_fresh_loop(coroutine) -> None:  # type: ignore[no-untyped-def]
    """asyncio.run in its own thread: the end-to-end suite's Playwright keeps a loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result(timeout=30)


def test_the_loop_delivers_at_once_when_a_document_is_queued_and_stops_cleanly(
    engine: Engine, scene: Scene, target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "get_engine", lambda: engine)
    first_id, _ = scene.upload()
    results: dict[str, object] = {}

    async def run() -> None:
        task = asyncio.create_task(export_loop(interval_seconds=60))  # a poll would come far too late
        delivered = lambda document_id: load(engine, document_id).status == "Delivered"  # noqa: E731
        results["first"] = await asyncio.to_thread(wait_until, lambda: delivered(first_id))
        # The first run is over: the loop waits. The upload's commit wakes it.
        second_id, _ = await asyncio.to_thread(scene.upload)
        results["second"] = await asyncio.to_thread(wait_until, lambda: delivered(second_id))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_in_fresh_loop(run())

    assert results == {"first": True, "second": True}
    assert len(target.received) == 2


# --- a real SFTP server ---------------------------------------------------------------------------


@pytest.fixture()
def sftp(tmp_path: Path) -> Iterator[SftpTestServer]:
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server


def sftp_scene(engine: Engine, server: SftpTestServer, *, password: str | None = None) -> Scene:
    configuration = AccountingConfiguration(
        environment_id=0,
        name="Lovelace SFTP",
        target=ConfigurationTarget.SFTP.value,
        sftp_host=server.host,
        sftp_port=server.port,
        sftp_username=server.username,
        sftp_host_key=server.host_key,
        credentials_encrypted=credentials.seal({"password": password or server.password}),
        terms_accepted_at=utcnow(),
    )
    return make_scene(engine, configuration=configuration)


def test_a_document_arrives_on_a_real_sftp_server_byte_for_byte(engine: Engine, sftp: SftpTestServer) -> None:
    scene = sftp_scene(engine, sftp)
    document_id, content = scene.upload()

    assert deliver_due(engine) == 1

    delivery = load(engine, document_id)
    assert delivery.status == "Delivered", delivery.last_error
    assert delivery.remote_path.startswith("invoices/")
    assert hashlib.sha256(sftp.read(delivery.remote_path)).hexdigest() == hashlib.sha256(content).hexdigest()


def test_a_closed_port_is_retried_and_delivered_once_the_server_is_back(
    engine: Engine, sftp: SftpTestServer
) -> None:
    scene = sftp_scene(engine, sftp)
    document_id, content = scene.upload()
    sftp.close()
    now = utcnow()

    assert deliver_due(engine, now=now) == 1
    delivery = load(engine, document_id)
    assert (delivery.status, delivery.attempts) == ("Retrying", 1)
    assert delivery.last_error

    sftp.reopen()
    assert deliver_due(engine, now=delivery.next_attempt_at) == 1
    delivery = load(engine, document_id)
    assert delivery.status == "Delivered"
    assert sftp.read(delivery.remote_path) == content


def test_a_changed_host_key_fails_with_its_reason_and_loses_nothing(
    engine: Engine, sftp: SftpTestServer
) -> None:
    scene = sftp_scene(engine, sftp)
    document_id, content = scene.upload()
    sftp.change_host_key()

    assert deliver_due(engine) == 1

    delivery = load(engine, document_id)
    assert delivery.status == "Failed"
    assert delivery.last_error and "host key" in delivery.last_error.lower()
    assert sftp.files() == []
    with Session(engine) as session:
        document = session.get(Document, document_id)
        assert document is not None and document_store.read_document_bytes(document) == content


def test_a_wrong_password_fails_with_its_reason_and_loses_nothing(
    engine: Engine, sftp: SftpTestServer
) -> None:
    scene = sftp_scene(engine, sftp, password="not the password")
    document_id, content = scene.upload()

    assert deliver_due(engine) == 1

    delivery = load(engine, document_id)
    assert (delivery.status, delivery.attempts) == ("Failed", 1)
    assert delivery.last_error and "password" in delivery.last_error.lower()
    assert sftp.files() == []
    assert [email for email, _ in notified(engine)] == ["fiona@lovelace.example"]
    with Session(engine) as session:
        document = session.get(Document, document_id)
        assert document is not None and document_store.read_document_bytes(document) == content


def test_a_failure_outside_the_target_is_counted_and_never_stops_the_run(
    engine: Engine, scene: Scene, target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_id, _ = scene.upload()
    good_id, _ = scene.upload()
    real_refusal = exports.delivery_refusal

    def refusal(session: Session, delivery: DocumentDelivery) -> str | None:
        if delivery.document_id == broken_id:
            raise RuntimeError("the rules could not be read")
        return real_refusal(session, delivery)

    monkeypatch.setattr(exports, "delivery_refusal", refusal)

    report = deliver_due_report(engine)

    assert report.handled == 2
    broken = load(engine, broken_id)
    assert (broken.status, broken.attempts, broken.claim_token) == ("Retrying", 1, None)
    assert broken.last_error == "Unexpected error: RuntimeError: the rules could not be read"
    assert load(engine, good_id).status == "Delivered"
