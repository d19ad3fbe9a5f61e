"""The notifications bell in the header (filled in by the live-updates work)."""

from __future__ import annotations

import reflex as rx


def notification_bell() -> rx.Component:
    """Placeholder until in-app notifications exist: renders nothing."""
    return rx.fragment()
