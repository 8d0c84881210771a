"""Session fixtures: data."""
