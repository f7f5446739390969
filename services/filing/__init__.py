"""filing: filings, bulk CSV, officer decisions, history, retention (SPEC §2)."""
