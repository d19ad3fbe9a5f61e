"""The domain: plain functions that take a database session. No Reflex imports here."""
