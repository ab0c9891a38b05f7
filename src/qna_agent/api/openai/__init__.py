"""The OpenAI-compatible front door (`/v1`): routes, request parsing, wire shapes, errors."""
