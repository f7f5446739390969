"""notifier: domain events -> the nine mail types -> SMTP, exactly once, with a delivery log (SPEC §3)."""
