"""The four services of the suite and the runtime they share."""
