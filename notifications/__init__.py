"""Channels, templates and the outbox dispatcher (knows messages, not task trees)."""
