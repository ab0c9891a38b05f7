"""Text to vectors: the embedder protocol and factory, the ONNX and OpenAI embedders, the cache."""
