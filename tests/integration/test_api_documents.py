"""Documents through the HTTP API, over real HTTP (granian serving the backend as deployed, see
test_api.py): uploading a PDF or UBL 2.1 invoice with connection keys, listing in pages, and each
refusal in JSON: 401 first, 404, 403, 413 (by Content-Length before reading, or while streaming),
415, 422. Refusals write nothing: no row, no file."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import test_api as api_server
from sqlmodel import Session, select

from econnect_app import security
from econnect_app.models import ActivityLog, Document, PartnershipStatus, utcnow
from econnect_app.services import document_store, documents

# The server, the data and the helpers of test_api.py.
world = api_server.world
base_url = api_server.base_url
client = api_server.client
World = api_server.World
assert_error = api_server.assert_error
assert_unauthorised = api_server.assert_unauthorised

UBL = "urn:oasis:names:specification:ubl:schema:xsd"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UBL_INVOICE = (
    f'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="{UBL}:Invoice-2" '
    f'xmlns:cbc="{UBL}:CommonBasicComponents-2"><cbc:ID>INV-1</cbc:ID></Invoice>'
).encode()
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The document store of this test (the server runs in this process)."""
    root = tmp_path / "documents"
    monkeypatch.setattr(document_store, "documents_root", lambda: root)
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def documents_path(organisation: object) -> str:
    identifier = organisation if isinstance(organisation, str) else organisation.identifier  # type: ignore[attr-defined]
    return f"/api/v1/organisations/{identifier}/documents"


def keys_of(world: World) -> tuple[str, str]:
    return world.app_key, world.secret


def post(
    client: httpx.Client,
    world: World,
    *,
    organisation: object = None,
    kind: str | None = "invoice",
    file: tuple[str, bytes, str] | None = ("invoice-2025-001.pdf", PDF, "application/pdf"),
    auth: tuple[str, str] | None | bool = True,
) -> httpx.Response:
    data = {"kind": kind} if kind is not None else {}
    files = {"file": file} if file is not None else {"other": ("x.txt", b"x", "text/plain")}
    return client.post(
        documents_path(organisation or world.client_organisation),
        data=data,
        files=files,
        auth=keys_of(world) if auth is True else (auth or None),  # type: ignore[arg-type]
    )


def rows(session: Session) -> list[Document]:
    return list(
        session.exec(select(Document).order_by(Document.id).execution_options(populate_existing=True))
    )


@pytest.fixture()
def nothing_written(session: Session, store: Path) -> Iterator[None]:
    """The test's calls leave no document row, no activity row and no file behind."""
    activity_before = len(list(session.exec(select(ActivityLog))))
    yield
    assert rows(session) == []
    assert len(list(session.exec(select(ActivityLog)))) == activity_before
    assert stored_files(store) == []


# --- 201 and 200 ----------------------------------------------------------------------------------


def test_a_pdf_is_uploaded_stored_byte_for_byte_and_listed(
    client: httpx.Client, world: World, session: Session, store: Path
) -> None:
    response = post(client, world)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "kind", "format", "filename", "content_type", "size", "sha256", "created_at"}
    assert (body["kind"], body["format"], body["filename"], body["content_type"], body["size"]) == (
        "invoice", "pdf", "invoice-2025-001.pdf", "application/pdf", len(PDF)
    )  # fmt: skip
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    [document] = rows(session)
    assert document.id == body["id"] and document.uploaded_by_key_set_id == world.key_set_id
    [file] = stored_files(store)
    assert file.read_bytes() == PDF
    assert documents.read_document_bytes(document) == PDF

    listed = client.get(documents_path(world.client_organisation), auth=keys_of(world))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "documents": [body], "page": 1, "per_page": 50, "total": 1, "has_more": False, "next_page": None
    }  # fmt: skip


def test_a_ubl_statement_and_a_10_mb_pdf_are_accepted(
    client: httpx.Client, world: World, session: Session
) -> None:
    ubl = post(client, world, kind="statement", file=("statement.xml", UBL_INVOICE, "text/xml"))
    largest = post(client, world, file=("large.pdf", b"%PDF-" + b"0" * (TEN_MB - 5), "application/pdf"))

    assert ubl.status_code == 201, ubl.text
    assert (ubl.json()["kind"], ubl.json()["format"], ubl.json()["content_type"]) == (
        "statement", "ubl", "application/xml"
    )  # fmt: skip
    assert largest.status_code == 201, largest.text
    assert largest.json()["size"] == TEN_MB
    assert [document.size_bytes for document in rows(session)] == [len(UBL_INVOICE), TEN_MB]


def test_the_type_is_judged_by_content_not_by_name_or_declared_type(
    client: httpx.Client, world: World
) -> None:
    response = post(client, world, file=("scan.txt", PDF, "text/plain"))
    assert response.status_code == 201, response.text
    assert (response.json()["format"], response.json()["filename"]) == ("pdf", "scan.txt.pdf")


def test_a_hostile_filename_is_cleaned(client: httpx.Client, world: World, store: Path) -> None:
    response = post(client, world, file=("../../etc/cron.d/evil\u202e.pdf", PDF, "application/pdf"))
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "evil.pdf"
    [file] = stored_files(store)
    assert file.parent.parent == store and "evil" not in file.name


def test_documents_are_listed_newest_first_in_pages(
    client: httpx.Client, world: World, session: Session
) -> None:
    for number in range(5):
        assert post(client, world, file=(f"{number}.pdf", PDF, "application/pdf")).status_code == 201
    path, auth = documents_path(world.client_organisation), keys_of(world)

    pages = [
        client.get(path, params={"page": page, "per_page": 2}, auth=auth).json() for page in (1, 2, 3, 4)
    ]

    assert [[document["filename"] for document in page["documents"]] for page in pages] == [
        ["4.pdf", "3.pdf"], ["2.pdf", "1.pdf"], ["0.pdf"], []
    ]  # fmt: skip
    assert [(page["page"], page["total"], page["has_more"], page["next_page"]) for page in pages] == [
        (1, 5, True, 2), (2, 5, True, 3), (3, 5, False, None), (4, 5, False, None)
    ]  # fmt: skip
    assert client.get(path, auth=auth).json()["per_page"] == 50


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "-1"}, {"page": "abc"}, {"page": "1.5"}, {"per_page": "0"}, {"per_page": "101"}],
)
def test_a_page_out_of_range_is_422(client: httpx.Client, world: World, params: dict[str, str]) -> None:
    response = client.get(documents_path(world.client_organisation), params=params, auth=keys_of(world))
    assert_error(response, 422)
    assert "per_page" in response.json()["error"]


def test_the_environments_own_organisation_takes_documents_too(client: httpx.Client, world: World) -> None:
    assert post(client, world, organisation=world.own_organisation).status_code == 201


# --- 401 first ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, ("ak_unknown", "sk_wrong")], ids=["no-keys", "wrong-keys"])
def test_401_comes_first_for_both_methods(
    client: httpx.Client, world: World, auth: tuple[str, str] | None, nothing_written: None
) -> None:
    assert_unauthorised(post(client, world, auth=auth or False))
    assert_unauthorised(post(client, world, organisation="no-such-organisation", auth=auth or False))
    assert_unauthorised(post(client, world, file=("x.txt", b"text", "text/plain"), auth=auth or False))
    assert_unauthorised(client.get(documents_path(world.client_organisation), auth=auth))
    assert_unauthorised(client.get(documents_path("abc%0Adef"), auth=auth))


def _raw_request(base_url: str, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a request's head and only ``body`` (less than it declares) over a plain socket; the
    status, headers and body of the answer, which must come without the rest being sent."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += connection.recv(65536)
        head_part, _, rest = answer.partition(b"\r\n\r\n")
        lines = head_part.decode().split("\r\n")
        headers = {
            name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += connection.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def _upload_head(path: str, *, length: int, authorization: str | None) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {length}",
        "Connection: close",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return "\r\n".join(lines) + "\r\n"


def _basic(world: World) -> str:
    return "Basic " + base64.b64encode(f"{world.app_key}:{world.secret}".encode()).decode()


def test_a_huge_body_without_keys_is_401_before_anything_is_read(
    base_url: str, world: World, nothing_written: None
) -> None:
    head = _upload_head(
        documents_path(world.client_organisation), length=500 * 1024 * 1024, authorization=None
    )
    status, headers, body = _raw_request(base_url, head, b"--xyz\r\n")
    assert status == 401
    assert headers["content-type"].startswith("application/json") and json.loads(body)["error"]


# --- 404 and 403, before the body is read ---------------------------------------------------------


def test_an_unknown_identifier_is_404_and_a_malformed_one_too(
    client: httpx.Client, world: World, nothing_written: None
) -> None:
    unknown = security.new_public_identifier()
    assert_error(post(client, world, organisation=unknown), 404)
    assert_error(client.get(documents_path(unknown), auth=keys_of(world)), 404)
    malformed = post(client, world, organisation="abc%0Adef")
    assert_error(malformed, 404)
    assert "not an organisation identifier" in malformed.json()["error"]


def test_an_organisation_the_keys_do_not_reach_is_403(
    client: httpx.Client, world: World, nothing_written: None
) -> None:
    refused = post(client, world, organisation=world.stranger_organisation)
    assert_error(refused, 403)
    assert "Stranger" not in refused.text
    assert_error(client.get(documents_path(world.stranger_organisation), auth=keys_of(world)), 403)


def test_403_once_the_partnership_ends_and_the_documents_stay(
    client: httpx.Client, world: World, session: Session, store: Path
) -> None:
    assert post(client, world).status_code == 201
    world.partnership.status = PartnershipStatus.ENDED.value
    world.partnership.ended_at = utcnow()
    session.add(world.partnership)
    session.commit()

    assert_error(post(client, world), 403)
    assert_error(client.get(documents_path(world.client_organisation), auth=keys_of(world)), 403)
    assert len(rows(session)) == 1 and len(stored_files(store)) == 1  # nothing deleted


def test_404_and_403_come_before_a_body_too_large(base_url: str, world: World, nothing_written: None) -> None:
    authorization = _basic(world)
    for organisation, expected in (
        (security.new_public_identifier(), 404),
        (world.stranger_organisation, 403),
    ):
        head = _upload_head(
            documents_path(organisation), length=500 * 1024 * 1024, authorization=authorization
        )
        assert _raw_request(base_url, head, b"--xyz\r\n")[0] == expected


# --- 413 ------------------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_413_without_reading_the_body(
    base_url: str, world: World, nothing_written: None
) -> None:
    head = _upload_head(
        documents_path(world.client_organisation), length=500 * 1024 * 1024, authorization=_basic(world)
    )
    status, headers, body = _raw_request(base_url, head, b"--xyz\r\n")  # 7 of the 500 MB declared
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"error": documents.too_large_message()}


def test_a_file_over_10_mb_is_413_while_streaming(
    client: httpx.Client, world: World, nothing_written: None
) -> None:
    """No Content-Length (chunked): the file is refused once it passes 10 MB."""
    boundary = "streamed-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(11):
            yield b"0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        documents_path(world.client_organisation),
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        auth=keys_of(world),
    )
    assert_error(response, 413)
    assert "larger than 10 MB" in response.json()["error"]


def test_a_file_of_10_mb_and_1_byte_is_413(client: httpx.Client, world: World, nothing_written: None) -> None:
    response = post(client, world, file=("big.pdf", b"%PDF-" + b"0" * (TEN_MB - 4), "application/pdf"))
    assert_error(response, 413)


def test_other_calls_refuse_bodies_over_1_mb_in_json(client: httpx.Client, world: World) -> None:
    response = client.request(
        "GET",
        api_server.organisation_path(world.client_organisation),
        content=b"x" * (1024 * 1024 + 1),
        auth=keys_of(world),
    )
    assert_error(response, 413)


# --- 415 and 422 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        ("invoice.pdf", b"This is a text file with a .pdf name.", "application/pdf"),
        ("invoice.xml", b'<?xml version="1.0"?><invoice><id>1</id></invoice>', "application/xml"),
        (
            "bomb.xml",
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            + f'<Invoice xmlns="{UBL}:Invoice-2">&b;</Invoice>'.encode(),
            "application/xml",
        ),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    ],
    ids=["text-named-pdf", "xml-not-ubl", "entity-bomb", "png"],
)
def test_a_file_that_is_not_a_pdf_or_ubl_is_415(
    client: httpx.Client, world: World, file: tuple[str, bytes, str], nothing_written: None
) -> None:
    response = post(client, world, file=file)
    assert_error(response, 415)
    assert response.json()["error"] == "This file is not a PDF or UBL 2.1 XML document."


def test_a_body_that_is_not_multipart_is_415(
    client: httpx.Client, world: World, nothing_written: None
) -> None:
    response = client.post(
        documents_path(world.client_organisation),
        json={"kind": "invoice", "file": "JVBERi0="},
        auth=keys_of(world),
    )
    assert_error(response, 415)
    assert "multipart/form-data" in response.json()["error"]


@pytest.mark.parametrize(
    ("kind", "file", "says"),
    [
        (None, ("invoice.pdf", PDF, "application/pdf"), '"kind"'),
        ("receipt", ("invoice.pdf", PDF, "application/pdf"), '"kind"'),
        ("", ("invoice.pdf", PDF, "application/pdf"), '"kind"'),
        ("invoice", None, '"file"'),
        ("invoice", ("empty.pdf", b"", "application/pdf"), "empty"),
    ],
    ids=["no-kind", "unknown-kind", "empty-kind", "no-file", "empty-file"],
)
def test_a_missing_or_wrong_field_is_422(
    client: httpx.Client,
    world: World,
    kind: str | None,
    file: tuple[str, bytes, str] | None,
    says: str,
    nothing_written: None,
) -> None:
    response = post(client, world, kind=kind, file=file)
    assert_error(response, 422)
    assert says in response.json()["error"]


def test_two_files_in_one_call_are_422(client: httpx.Client, world: World, nothing_written: None) -> None:
    response = client.post(
        documents_path(world.client_organisation),
        data={"kind": "invoice"},
        files=[("file", ("a.pdf", PDF, "application/pdf")), ("file", ("b.pdf", PDF, "application/pdf"))],
        auth=keys_of(world),
    )
    assert_error(response, 422)


def test_a_broken_multipart_body_is_422(client: httpx.Client, world: World, nothing_written: None) -> None:
    response = client.post(
        documents_path(world.client_organisation),
        content=b"--xyz\r\nthis is not a part header\r\n\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        auth=keys_of(world),
    )
    assert_error(response, 422)


def test_a_wrong_method_names_both_allowed_ones(client: httpx.Client, world: World) -> None:
    response = client.put(documents_path(world.client_organisation), auth=keys_of(world))
    assert_error(response, 405)
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["allow"].split(",")}


# --- the OpenAPI document and the access log --------------------------------------------------------


def test_both_operations_are_in_the_openapi_document(client: httpx.Client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    path = document["paths"]["/organisations/{organisation_identifier}/documents"]
    assert set(path["post"]["responses"]) == {"201", "401", "403", "404", "413", "415", "422", "429"}
    assert set(path["get"]["responses"]) == {"200", "401", "403", "404", "422", "429"}
    upload = path["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload == {"$ref": "#/components/schemas/DocumentUpload"}
    assert document["components"]["schemas"]["DocumentUpload"]["properties"]["kind"]["enum"] == [
        "invoice",
        "statement",
    ]


def test_uploads_are_in_the_access_log(
    client: httpx.Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="econnect.api"):
        post(client, world)
    [line] = [record.getMessage() for record in caplog.records if record.name == "econnect.api"]
    identifier = world.client_organisation.identifier
    assert line.startswith(f"api POST /api/v1/organisations/{identifier}/documents status=201 ")
    assert f"organisation={identifier}" in line and world.secret not in line
