"""Client command groups of `ens`, one module per area; each exposes `register(cli)`."""
