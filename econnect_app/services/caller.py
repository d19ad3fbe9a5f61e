"""Who is calling, as far as the services need to know it: the client's network address.

The web layer sets it around the work of one request (``calling_from``); services that throttle
by client read it with ``client_address()`` instead of taking it as an argument through every
call. Empty when unknown (scripts, tests that do not set it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_client_address: ContextVar[str] = ContextVar("econnect_client_address", default="")


def client_address() -> str:
    """The calling client's IP address ("" when unknown)."""
    return _client_address.get()


@contextmanager
def calling_from(address: str) -> Iterator[None]:
    """Run the block on behalf of the client at ``address``."""
    token = _client_address.set((address or "").strip()[:64])
    try:
        yield
    finally:
        _client_address.reset(token)
