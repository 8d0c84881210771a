"""KFP component: calibrate."""
