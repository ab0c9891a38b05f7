"""Logging, metrics and tracing set-up."""
