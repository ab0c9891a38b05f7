"""Read-only SQL over an analytics database: the toolbox, its SQLite and PostgreSQL backends,
and the three tools the model calls."""
