"""Reflex configuration; everything environment-specific comes from econnect_app.settings."""

import reflex as rx

from econnect_app.production import check_production, reflex_origin_options
from econnect_app.settings import get_settings

# `reflex run --env prod` loads this file once more after setting REFLEX_ENV_MODE=prod: read the
# settings afresh each time so the mode (and everything else) is the one the server runs with.
get_settings.cache_clear()
_settings = get_settings()

# Production mode refuses to serve without a real secret key, SMTP and the public URL.
check_production()

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
    # X-Forwarded-For names the client only behind this many trusted proxies (0: ignored).
    trusted_proxy_hops=_settings.trusted_proxy_hops,
    # Production: only ECONNECT_PUBLIC_URL may open the websocket or call the backend (CORS).
    **reflex_origin_options(_settings),
)
