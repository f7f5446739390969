"""scheduler: the time-driven work, once per job and business day."""
