"""Alembic migrations of the central database (run by ``central.db.migrate``)."""
