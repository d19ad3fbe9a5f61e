"""The export worker: delivers documents with an active online connection. (Placeholder: issue 9.)"""

from __future__ import annotations


async def export_loop() -> None:
    """Run in every backend worker (a Reflex lifespan task)."""
