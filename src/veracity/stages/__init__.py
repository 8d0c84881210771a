"""The seven pipeline steps: the I/O edge that the CLI, dvc.yaml and KFP components call."""
