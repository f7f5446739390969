"""The officers' and helpdesk's web console: server-rendered pages over the suite's contracts."""
