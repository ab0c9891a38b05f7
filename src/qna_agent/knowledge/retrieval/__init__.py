"""Finding passages: lexical (BM25) and dense candidates, fused by reciprocal rank, cached."""
