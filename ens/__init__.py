"""The `ens` command: runs the suite (embedded or one service at a time) and is a client of its contracts."""
