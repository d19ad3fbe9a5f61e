"""Routes that exist only in development: /dev/mailbox is not even registered in production mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from econnect_app import routes

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LIST_PAGES = (
    "import json, econnect_app.econnect_app as m; print(json.dumps(sorted(m.app._unevaluated_pages)))"
)


def registered_routes(tmp_path: Path, **variables: str) -> list[str]:
    """The routes the app module registers when imported in a fresh process with ``variables``."""
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("ECONNECT_", "REFLEX_"))
    }
    environ.update(ECONNECT_DATA_DIR=str(tmp_path / "data"), **variables)
    done = subprocess.run(
        [sys.executable, "-c", LIST_PAGES],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_dev_mailbox_is_not_registered_in_production(tmp_path: Path) -> None:
    pages = registered_routes(
        tmp_path,
        REFLEX_ENV_MODE="prod",
        ECONNECT_SECRET_KEY="k" * 48,
        ECONNECT_SMTP_URL="smtp://127.0.0.1:2525",
        ECONNECT_PUBLIC_URL="http://localhost:3000",
    )

    assert "keys" in pages and "login" in pages
    assert routes.DEV_MAILBOX.strip("/") not in pages


def test_the_dev_mailbox_is_registered_in_development(tmp_path: Path) -> None:
    assert routes.DEV_MAILBOX.strip("/") in registered_routes(tmp_path, REFLEX_ENV_MODE="dev")
