"""Who may call, and how much: API keys, principals, rate limits and idempotency records."""
