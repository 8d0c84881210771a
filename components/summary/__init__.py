"""KFP component: summary."""
