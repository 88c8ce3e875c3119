"""The schema's history as Alembic revisions: 0001 is the schema of version 0.1.0; each later change is one more."""
