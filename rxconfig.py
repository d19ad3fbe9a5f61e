"""Reflex configuration; everything environment-specific comes from econnect_app.settings."""

import reflex as rx

from econnect_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="econnect_app",
    db_url=_settings.db_url,
    redis_url=_settings.redis_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium")),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
