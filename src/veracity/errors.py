"""Exceptions of Veracity: all derive from :class:`VeracityError`.

Messages state what was expected, what came, and how to fix it. Servers map these
classes to HTTP status codes in one place (``http_status``); the CLI maps them to
exit codes and prints the message without a stack trace.
"""

from __future__ import annotations


class VeracityError(Exception):
    """Base of every error Veracity raises on purpose."""

    http_status = 500
    exit_code = 1


class ConfigError(VeracityError):
    """params.yaml or an override is missing or invalid."""

    exit_code = 2


class InputError(VeracityError):
    """Input from outside (a file, a request, a CLI argument) is unusable."""

    http_status = 400
    exit_code = 2


class PathSafetyError(InputError):
    """A path or object key escapes the root it must stay under."""


class AudioDecodeError(InputError):
    """Bytes could not be decoded as audio."""

    http_status = 415


class AudioContentError(InputError):
    """Decoded audio is unusable: empty, too short, NaN/Inf samples."""

    http_status = 422


class PayloadTooLargeError(InputError):
    """An upload exceeds the configured length limit."""

    http_status = 413


class DataError(VeracityError):
    """A dataset or manifest is malformed."""

    exit_code = 3


class QuarantineLimitError(DataError):
    """Too many files of a corpus could not be ingested."""


class ValidationFailedError(DataError):
    """Data validation expectations failed."""

    exit_code = 4


class CheckpointError(VeracityError):
    """A checkpoint or model artifact cannot be loaded safely."""

    exit_code = 5


class ModelArtifactError(CheckpointError):
    """A model artifact directory is incomplete or inconsistent."""


class CalibrationError(VeracityError):
    """Calibration cannot be fitted or applied."""

    exit_code = 6


class MetricError(VeracityError):
    """Scores or labels are unusable for a metric (one class, empty, NaN)."""

    exit_code = 6


class GateFailedError(VeracityError):
    """A candidate model failed one or more quality gates."""

    exit_code = 7


class RegistryError(VeracityError):
    """The model registry refused an operation."""

    exit_code = 8


class ApprovalError(RegistryError):
    """An approval, rejection or rollback is not allowed."""


class StorageError(VeracityError):
    """Object storage (local or s3://) failed."""

    http_status = 502
    exit_code = 9


class NotEnoughDataError(VeracityError):
    """Too few rows for a meaningful report."""

    exit_code = 3


class ServingError(VeracityError):
    """A model server could not answer."""

    http_status = 503


class TrainingError(VeracityError):
    """Training cannot go on (e.g. the loss diverged)."""

    exit_code = 10
