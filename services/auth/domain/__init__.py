"""Auth's rules and typed state: pure, no I/O, no store or broker formats."""
