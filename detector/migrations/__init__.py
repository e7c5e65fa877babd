"""Alembic migrations of the results store: every schema change is a revision here, so an
existing store is upgraded in place (``Store`` runs them on open), never dropped."""
