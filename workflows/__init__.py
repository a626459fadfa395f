"""Prefect flows and the embedded scheduler (thin wrappers around taskflow.services)."""
