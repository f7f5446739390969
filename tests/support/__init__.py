"""Helpers shared by the test tiers (real nats-server, real SMTP sink, hosting services)."""
