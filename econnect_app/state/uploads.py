"""File uploads into a page state, shared by the pages that take a file (CSV import, documents).

An upload handler is a background event receiving ``rx.UploadChunkIterator``. Before it reads the
file it checks, in a worker thread, that the browser's session is still valid and that its user may
upload (``for_session_user``): a refused upload is never read. It then reads the first chosen file
with ``read_upload``, which stops as soon as the file passes the size limit, so the rest of a file
that is too large never reaches the server's memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx
from sqlmodel import Session

from econnect_app.db import db_session
from econnect_app.models import User
from econnect_app.services import sessions

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Upload:
    """The chosen file: its name and bytes.

    ``content`` is None when no file was sent; past the limit it holds only the first ``limit`` + 1
    bytes and ``too_large`` is set.
    """

    filename: str
    content: bytes | None
    too_large: bool = False


class SignedOut:
    """The browser session is no longer valid (the page goes to the log-in page)."""


def for_session_user(session_cookie: str, work: Callable[[Session, User], T]) -> T | SignedOut:
    """``work(db, user)`` for the user of a browser session, with a fresh database session; SignedOut
    when the session is no longer valid. Blocking: call it in a worker thread (``run_off_loop``)."""
    with db_session() as db:
        actor = sessions.authenticate(db, token=session_cookie or None)
        if actor is None:
            return SignedOut()
        return work(db, actor)


async def read_upload(chunks: rx.UploadChunkIterator, *, limit: int) -> Upload:
    """The chosen file (the first one only), read no further than ``limit`` + 1 bytes: a larger file
    is marked ``too_large`` as soon as it passes the limit, the rest of it is never read."""
    content: bytearray | None = None
    filename: str | None = None
    async for chunk in chunks:
        filename = chunk.filename if filename is None else filename
        if chunk.filename != filename:
            continue
        content = content if content is not None else bytearray()
        content.extend(chunk.data)
        if len(content) > limit:
            return Upload(filename=filename, content=bytes(content[: limit + 1]), too_large=True)
    return Upload(filename=filename or "", content=bytes(content) if content is not None else None)


def events(*events: Any) -> list[Any]:
    """The events to send, leaving out the Nones (Reflex refuses a list holding one)."""
    return [event for event in events if event is not None]
