"""The toy corpus is a generic CSV (veracity.data.readers); no reader of its own."""

READERS: dict = {}
