"""Errors of the job service; each derives from a :mod:`veracity.errors` class (and its
HTTP status), so the API's one error handler answers them as JSON."""

from __future__ import annotations

from veracity.errors import InputError, ServingError, VeracityError


class QueueFullError(ServingError):
    """As many jobs are queued or running as the service may hold (503 + Retry-After)."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModalityUnavailableError(ServingError):
    """The modality is not installed here, or no transformer is configured for it (503)."""


class UnknownModalityError(InputError):
    """The request names a modality Veracity does not have (422)."""

    http_status = 422


class JobNotFoundError(InputError):
    """No job has this id (404)."""

    http_status = 404


class ResultSchemaError(VeracityError):
    """A result does not satisfy result.schema.json (a bug: the job fails, loudly)."""


class TransientJobError(ServingError):
    """A step that may succeed later (transformer unavailable): the job is retried."""


class JobBusyError(VeracityError):
    """A delivery of a job that another delivery is running (a duplicate message): put it
    back for ``retry_in_s``, when that run has ended or its claim has expired."""

    def __init__(self, job_id: str, retry_in_s: float):
        super().__init__(
            f"job {job_id} is being run by another delivery; this one waits {retry_in_s:.1f} s"
        )
        self.job_id, self.retry_in_s = job_id, retry_in_s
