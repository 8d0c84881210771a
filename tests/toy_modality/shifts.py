"""The toy has no deployment shifts of its own (the file exists: every modality has one)."""

SHIFTS: dict = {}
