"""Email: messages built from templates (messages.py), queued in the outbox (outbox.py), stored
encrypted (stored_bodies.py) and delivered by a worker (delivery.py)."""

from econnect_app.mail.outbox import queue_email

__all__ = ["queue_email"]
