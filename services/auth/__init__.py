"""auth: accounts, sessions, officers, notices (SPEC §1)."""
