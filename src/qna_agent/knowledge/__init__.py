"""Knowledge base: documents, chunking, indexing and search."""
