"""KFP component: features."""
