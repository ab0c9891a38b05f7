"""The agent: an LLM behind a small protocol, a tool registry, and a bounded tool-calling loop."""
