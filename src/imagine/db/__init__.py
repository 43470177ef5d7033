"""Database engine, schema and migrations."""
