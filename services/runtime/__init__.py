"""Plumbing every service shares: settings, NATS, clock, errors, outbox relay, audit, hosting."""
