"""The domain: plain functions that take a database session. No Reflex imports here.

Importing the package installs what every write relies on, whoever writes: the after-commit
effects (``effects``) and the upkeep of the Find partners search index (``find_partners``).
"""

from econnect_app.services import effects, find_partners  # noqa: F401  (session and mapper events)
