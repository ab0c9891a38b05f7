"""ASGI middleware (pure ASGI, so streamed responses pass through untouched); `create_app`
adds them in order."""
