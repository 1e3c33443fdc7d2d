"""The HTTP API (FastAPI): accounts, case actions and views (docs/api.md)."""
