"""The tools the model may call: the registry, the knowledge-base search, and the SQL data tools."""
