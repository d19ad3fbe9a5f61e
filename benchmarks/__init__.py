"""Benchmarks: scripts that load realistic data into a throw-away database and print figures.

Run them as modules from the project root, e.g. ``.venv/bin/python -m benchmarks.find_partners``.
"""
