"""Small helpers for pages reached through a link."""

from __future__ import annotations

from urllib.parse import unquote


def safe_next_path(value: str | None, default: str) -> str:
    """A local path to continue to after logging in (never another site)."""
    value = unquote(value or "")
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def last_path_segment(path: str) -> str:
    """The token at the end of a path such as ``/reset-password/<token>``."""
    return path.rstrip("/").rsplit("/", 1)[-1]
