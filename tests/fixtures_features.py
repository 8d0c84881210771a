"""Session fixtures: features."""
