"""Database: declarative base, engine and session factory, migrations."""
