"""Retraining pipeline: local orchestration, compile, submit and schedule (Kubeflow).

``submit_run(cfg, host, arguments) -> run_id`` starts a one-off run on a KFP API (the
monitoring job calls it to retrain on drift); ``schedule_run`` creates the monthly
recurring run; ``veracity.orchestration.local.run_local`` runs everything on this machine.
Kept light: the step images import ``veracity.orchestration.adapters`` through this package.
"""

from veracity.orchestration.client import run_arguments, schedule_run, submit_run

__all__ = ["run_arguments", "schedule_run", "submit_run"]
