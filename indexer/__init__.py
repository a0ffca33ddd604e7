"""Indexer: chain events → SQL (SQLAlchemy 2.0, Alembic) → REST API and dashboard."""
