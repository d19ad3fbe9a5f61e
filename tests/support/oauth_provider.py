"""A small local OAuth 2 provider with Dropbox-style and Octopus-style APIs, for tests.

It stands in for Dropbox and Octopus, which cannot be reached from here (no internet in the
build and test environment). It implements what the app relies on, following the contracts
documented in ``econnect_app/exports/cloud.py``:

- ``GET /oauth2/authorize``: checks the client id, the redirect URI and that a PKCE S256
  ``code_challenge`` is present; shows a consent page with ``Allow`` and ``Deny`` (or decides at
  once when ``decision`` is set to "allow" / "deny", the tests' switch) and redirects back with
  ``code`` and ``state`` (or ``error=access_denied``).
- ``POST /oauth2/token``: the ``authorization_code`` grant (client secret checked, code single use,
  redirect URI compared, PKCE verified: SHA-256 of ``code_verifier`` must equal the challenge) and
  the ``refresh_token`` grant. Access tokens live ``access_token_seconds`` (short on purpose, so a
  refresh can be tested); ``expire_access_tokens()`` and ``revoke_refresh_tokens()`` let a test
  make the provider refuse what it issued.
- ``POST /api/files/upload`` (Dropbox-style, header ``Dropbox-API-Arg``), ``GET /api/dossiers`` and
  ``POST /api/dossiers/{id}/documents`` (Octopus-style, multipart ``file`` + ``kind``); every API
  call needs a current bearer token. Uploaded files are kept in memory (``uploads``).

It runs ``http.server``'s threading server on 127.0.0.1 and a free port, in a thread.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from econnect_app.settings import OAuthProvider

LOOPBACK = "127.0.0.1"
CLIENT_ID = "econnect-test-client"
CLIENT_SECRET = "econnect-test-secret"
DEFAULT_DOSSIERS = ({"id": "D-1001", "name": "Bakkerij de Vries"}, {"id": "D-2002", "name": "Garage Jansen"})


@dataclass
class StoredFile:
    """A file the app uploaded."""

    path: str  # Dropbox-style: "/invoices/x.pdf"; Octopus-style: "<dossier>/<file name>"
    data: bytes
    kind: str = ""
    dossier_id: str = ""


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float
    used: bool = False


@dataclass
class OAuthStandIn:
    """The provider's state; ``start()`` it (or use ``running_oauth_provider``)."""

    account_name: str = "Accountant test account"
    access_token_seconds: int = 60
    decision: str = "ask"  # "ask": consent page; "allow" / "deny": decided at once
    dossiers: list[dict[str, str]] = field(default_factory=lambda: [dict(item) for item in DEFAULT_DOSSIERS])
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    uploads: list[StoredFile] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)  # grant_type, pkce, outcome
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _pending: dict[str, dict[str, str]] = field(default_factory=dict)  # consent pages shown
    _access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch s)
    _refresh_tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------------

    def start(self) -> OAuthStandIn:
        """Serve on 127.0.0.1 and a free port, in a thread."""
        provider = self

        class Handler(_Handler):
            stand_in = provider

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def settings(self) -> OAuthProvider:
        """What the app's settings hold for this provider."""
        return OAuthProvider(
            client_id=self.client_id,
            client_secret=self.client_secret,
            authorize_url=self.base_url + "/oauth2/authorize",
            token_url=self.base_url + "/oauth2/token",
            api_url=self.base_url + "/api",
        )

    def environment(self, name: str) -> dict[str, str]:
        """The ``ECONNECT_<NAME>_*`` variables pointing the app at this provider."""
        provider = self.settings()
        return {
            f"ECONNECT_{name}_CLIENT_ID": provider.client_id,
            f"ECONNECT_{name}_CLIENT_SECRET": provider.client_secret,
            f"ECONNECT_{name}_AUTHORIZE_URL": provider.authorize_url,
            f"ECONNECT_{name}_TOKEN_URL": provider.token_url,
            f"ECONNECT_{name}_API_URL": provider.api_url,
        }

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is refused from now on (as if its time ran out)."""
        with self._lock:
            self._access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused (the user revoked the app's access)."""
        with self._lock:
            self._refresh_tokens.clear()
            self._access_tokens.clear()

    def grants(self, grant_type: str) -> list[dict[str, str]]:
        """The token requests of one grant type, in order."""
        with self._lock:
            return [request for request in self.token_requests if request["grant_type"] == grant_type]

    # --- the provider's rules (called by the handler) -----------------------------------------------

    def _issue(self, refresh_token: str | None) -> dict[str, Any]:
        access = "at_" + secrets.token_urlsafe(24)
        self._access_tokens[access] = time.time() + self.access_token_seconds
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.access_token_seconds,
            "account_id": "dbid:test-account",
            "account_name": self.account_name,
        }
        if refresh_token is None:
            refresh_token = "rt_" + secrets.token_urlsafe(24)
            self._refresh_tokens.add(refresh_token)
            answer["refresh_token"] = refresh_token
        return answer

    def bearer_ok(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        with self._lock:
            expiry = self._access_tokens.get(token)
        return scheme.lower() == "bearer" and expiry is not None and expiry > time.time()


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Handler(BaseHTTPRequestHandler):
    stand_in: OAuthStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        return  # quiet

    # --- plumbing ----------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _redirect(self, location: str) -> None:
        self._send(HTTPStatus.FOUND, b"", "text/plain", {"Location": location})

    def _page(self, status: int, title: str, body: str) -> None:
        document = (
            f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
        )
        self._send(status, document.encode(), "text/html; charset=utf-8")

    # --- routes ------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/oauth2/authorize":
            self._authorize(query)
        elif url.path == "/api/dossiers":
            if self._authorised():
                self._json(HTTPStatus.OK, self.stand_in.dossiers)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/oauth2/authorize/decision":
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            self._decide(form)
        elif url.path == "/oauth2/token":
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            self._token(form)
        elif url.path == "/api/files/upload":
            if self._authorised():
                self._upload(body)
        elif url.path.startswith("/api/dossiers/") and url.path.endswith("/documents"):
            if self._authorised():
                self._document(url.path.split("/")[3], body)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def _authorised(self) -> bool:
        if self.stand_in.bearer_ok(self.headers.get("Authorization", "")):
            return True
        self._json(
            HTTPStatus.UNAUTHORIZED, {"error_summary": "expired_access_token/", "error": "invalid_token"}
        )
        return False

    def _authorize(self, query: dict[str, str]) -> None:
        stand_in = self.stand_in
        with stand_in._lock:
            stand_in.authorize_requests.append(dict(query))
        if query.get("client_id") != stand_in.client_id:
            self._page(HTTPStatus.BAD_REQUEST, "Unknown app", "<p>This app is unknown.</p>")
            return
        if query.get("response_type") != "code" or not query.get("redirect_uri", "").startswith("http"):
            self._page(HTTPStatus.BAD_REQUEST, "Bad request", "<p>A code and a redirect URI are needed.</p>")
            return
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            self._page(HTTPStatus.BAD_REQUEST, "PKCE required", "<p>PKCE with S256 is required.</p>")
            return
        if stand_in.decision in ("allow", "deny"):
            self._redirect(self._decision_location(query, stand_in.decision == "allow"))
            return
        request_id = secrets.token_urlsafe(12)
        with stand_in._lock:
            stand_in._pending[request_id] = dict(query)
        hidden = f'<input type="hidden" name="request" value="{request_id}">'
        self._page(
            HTTPStatus.OK,
            "Allow access?",
            "<h1>eConnect wants to access your account</h1>"
            f"<p>Signed in as {html.escape(stand_in.account_name)}.</p>"
            f'<form method="post" action="/oauth2/authorize/decision">{hidden}'
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Deny</button></form>',
        )

    def _decide(self, form: dict[str, str]) -> None:
        with self.stand_in._lock:
            query = self.stand_in._pending.pop(form.get("request", ""), None)
        if query is None:
            self._page(HTTPStatus.BAD_REQUEST, "Expired", "<p>This consent request is no longer open.</p>")
            return
        self._redirect(self._decision_location(query, form.get("decision") == "allow"))

    def _decision_location(self, query: dict[str, str], allowed: bool) -> str:
        stand_in = self.stand_in
        if allowed:
            code = secrets.token_urlsafe(18)
            with stand_in._lock:
                stand_in._codes[code] = _Code(
                    client_id=query["client_id"],
                    redirect_uri=query["redirect_uri"],
                    challenge=query["code_challenge"],
                    expires=time.time() + 300,
                )
            answer = {"code": code, "state": query.get("state", "")}
        else:
            answer = {
                "error": "access_denied",
                "error_description": "The user chose not to give access to the app.",
                "state": query.get("state", ""),
            }
        return query["redirect_uri"] + ("&" if "?" in query["redirect_uri"] else "?") + urlencode(answer)

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        stand_in = self.stand_in
        return client_id == stand_in.client_id and client_secret == stand_in.client_secret

    def _token(self, form: dict[str, str]) -> None:
        stand_in = self.stand_in
        grant_type = form.get("grant_type", "")
        record = {"grant_type": grant_type, "pkce": "", "outcome": ""}
        with stand_in._lock:
            stand_in.token_requests.append(record)
            if not self._client_authenticated(form):
                record["outcome"] = "invalid_client"
            elif grant_type == "authorization_code":
                code = stand_in._codes.get(form.get("code", ""))
                if code is None or code.used or code.expires < time.time():
                    record["outcome"] = "invalid_grant"
                elif code.redirect_uri != form.get("redirect_uri"):
                    record["outcome"] = "invalid_grant"
                elif _s256(form.get("code_verifier", "")) != code.challenge:
                    record["pkce"] = "failed"
                    record["outcome"] = "invalid_grant"
                else:
                    code.used = True
                    record["pkce"] = "verified"
                    record["outcome"] = "issued"
                    answer = stand_in._issue(None)
            elif grant_type == "refresh_token":
                if form.get("refresh_token") in stand_in._refresh_tokens:
                    record["outcome"] = "issued"
                    answer = stand_in._issue(form["refresh_token"])  # Dropbox keeps the refresh token
                else:
                    record["outcome"] = "invalid_grant"
            else:
                record["outcome"] = "unsupported_grant_type"
        if record["outcome"] == "issued":
            self._json(HTTPStatus.OK, answer)
        else:
            status = (
                HTTPStatus.UNAUTHORIZED if record["outcome"] == "invalid_client" else HTTPStatus.BAD_REQUEST
            )
            self._json(status, {"error": record["outcome"]})

    def _upload(self, body: bytes) -> None:
        try:
            argument = json.loads(self.headers.get("Dropbox-API-Arg", ""))
            path = str(argument["path"])
        except (ValueError, KeyError, TypeError):
            self._json(HTTPStatus.BAD_REQUEST, {"error_summary": "bad Dropbox-API-Arg"})
            return
        with self.stand_in._lock:
            taken = {stored.path for stored in self.stand_in.uploads}
            landed, number = path, 1
            while landed in taken and argument.get("autorename"):
                stem, dot, extension = path.rpartition(".")
                landed = f"{stem} ({number}){dot}{extension}" if dot else f"{path} ({number})"
                number += 1
            if landed in taken:
                self._json(HTTPStatus.CONFLICT, {"error_summary": "path/conflict/file/"})
                return
            self.stand_in.uploads.append(StoredFile(path=landed, data=body))
        self._json(
            HTTPStatus.OK,
            {"name": landed.rsplit("/", 1)[-1], "path_display": landed, "size": len(body),
             "content_hash": hashlib.sha256(body).hexdigest()},
        )  # fmt: skip

    def _document(self, dossier_id: str, body: bytes) -> None:
        if dossier_id not in {item["id"] for item in self.stand_in.dossiers}:
            self._json(HTTPStatus.NOT_FOUND, {"error": "unknown dossier"})
            return
        content_type = self.headers.get("Content-Type", "")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        fields: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = (part.get_filename() or "", part.get_payload(decode=True) or b"")
        if "file" not in fields or not fields["file"][0]:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "a file is required"})
            return
        filename, data = fields["file"]
        kind = fields.get("kind", ("", b""))[1].decode()
        with self.stand_in._lock:
            self.stand_in.uploads.append(
                StoredFile(path=f"{dossier_id}/{filename}", data=data, kind=kind, dossier_id=dossier_id)
            )
        self._json(HTTPStatus.CREATED, {"id": secrets.token_hex(6), "filename": filename, "kind": kind})


@contextlib.contextmanager
def running_oauth_provider(**options: Any) -> Iterator[OAuthStandIn]:
    """A started stand-in, stopped at the end of the block."""
    stand_in = OAuthStandIn(**options).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
