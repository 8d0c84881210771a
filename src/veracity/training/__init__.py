"""Training: augmentations, training data from the features store, the trainer."""
