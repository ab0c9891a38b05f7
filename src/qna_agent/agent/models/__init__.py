"""Language models behind one protocol: the OpenAI-compatible client, the offline extractive
model, and the wrappers (retries, tracing) that go around either."""
