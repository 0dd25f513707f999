"""The store on SQLAlchemy 2 async Core: SQLite (embedded) and PostgreSQL (production)."""
