"""Asynchronous analysis jobs: a FastAPI job API, Celery workers on Redis, a SQL job store.

KServe has no asynchronous inference, so long analyses (seed 002: 30-60 s per video) run as
jobs: the API stores a ``detection_jobs`` row and enqueues its id; a worker fetches the
media, makes a short synchronous call to the modality's transformer (an InferenceService),
and writes the result (seed 002 XI.10 schema + the Verdict) and its progress to the store;
clients poll ``/jobs/{id}`` or follow ``/jobs/{id}/events`` (SSE). Importing this package
imports nothing else (``veracity.config`` imports :mod:`veracity.jobs.config`).
"""
