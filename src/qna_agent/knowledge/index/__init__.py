"""The stored index: documents, chunks and embeddings, kept in step with sources by content hash."""
