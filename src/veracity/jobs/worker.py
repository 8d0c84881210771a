"""The worker: run one job from its id, the way any delivery of it would.

A delivery claims the job in the store (running, one more attempt); a job already completed
or failed is left alone, so its result never changes (idempotent per job id). A duplicate
message (the outbox may publish a job twice) of a job another delivery claimed less than
``jobs.time_limit_s`` ago is put back until that claim expires: by then the job has ended
(and the duplicate is dropped), or its worker was lost (and this delivery runs it); a
redelivery after a lost worker comes later than that anyway (visibility timeout). The steps
record their stage and progress: fetching (10) -> checking (25, s3:// media only; uploads
were checked by the API) -> one synchronous call to the modality's transformer, whose
progress board the worker follows live (:data:`TRANSFORMER_STAGES`): decoding (40) ->
faces (45-65, video) -> scoring (65-80, chunk by chunk) -> explaining (80-88: Grad-CAM of
the anomalous windows, then their saliency PNGs stored with the job) -> writing (90) ->
done (100); the verdict times each step. A video the transformer finds no analysable face in completes as ``uncertain``
(reason ``no_face``). Refused media fail the job with the reason; an
unavailable transformer is retried after ``jobs.retry_backoff_s``; a job delivered more than
``jobs.max_attempts`` times (its workers were lost, or it kept failing transiently) fails
with the reason. The spooled upload is deleted once the job has ended, whatever the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

from celery import Celery

from veracity.config import Config
from veracity.errors import VeracityError
from veracity.jobs.errors import JobBusyError, TransientJobError
from veracity.jobs.inference import MediaRefusedError, following_progress, request_verdict
from veracity.jobs.intake import check_media, resolve_modality
from veracity.jobs.queue import TASK_NAME
from veracity.jobs.result import build_result, model_version, no_face_result, validate_result
from veracity.jobs.saliency import SaliencyStore, saliency_dir
from veracity.jobs.sources import SPOOL_SCHEME, Spool, fetch_s3
from veracity.jobs.store import TERMINAL, JobRecord, JobStore

log = logging.getLogger(__name__)

DONE = None  # what :meth:`JobRunner.run` returns when the delivery needs no retry
NO_FACE = "NoFaceError"  # the video transformer's refusal of a video without a face
# the transformer's stages (its progress board) -> the span of the job's progress bar
TRANSFORMER_STAGES = {
    "decoding": (40, 45),
    "faces": (45, 65),
    "scoring": (65, 80),
    "explaining": (80, 85),
}


def job_progress(stage: str, fraction: float) -> int | None:
    """The job's progress (0-100) when the transformer is ``fraction`` through ``stage``;
    None for a stage the job service does not show."""
    span = TRANSFORMER_STAGES.get(stage)
    if span is None:
        return None
    low, high = span
    return int(low + (high - low) * min(1.0, max(0.0, fraction)))


@dataclass
class JobRunner:
    """Everything one worker process needs to run jobs."""

    cfg: Config
    store: JobStore
    spool: Spool

    def run(self, job_id: str) -> float | None:
        """Run one delivery of ``job_id``; returns the seconds after which it should be
        retried, or :data:`DONE`."""
        try:
            record = self.store.claim(job_id, lease_s=self.cfg.jobs.time_limit_s)
        except JobBusyError as exc:
            log.info("%s", exc)
            return exc.retry_in_s
        if record is None:
            log.warning("job %s is not in the store; dropping its message", job_id)
            return DONE
        if record.status in TERMINAL:
            log.info("job %s is already %s; not running it again", job_id, record.status)
            return DONE
        limit = self.cfg.jobs.max_attempts
        if record.attempts > limit:
            self._end(record, error=(
                f"no worker finished this job in {limit} attempts (workers were lost mid-job: "
                f"killed, out of memory or over jobs.time_limit_s); last note: "
                f"{record.error or 'none'}"))  # fmt: skip
            return DONE
        log.info("job %s (%s): attempt %d", job_id, record.modality, record.attempts)
        try:
            self._analyse(record)
        except TransientJobError as exc:
            if record.attempts >= limit:
                self._end(record, error=f"gave up after {record.attempts} attempts: {exc}")
                return DONE
            log.warning("job %s: %s; retrying in %g s", job_id, exc, self.cfg.jobs.retry_backoff_s)
            self.store.requeue(job_id, str(exc))
            return self.cfg.jobs.retry_backoff_s
        except VeracityError as exc:
            self._end(record, error=str(exc))
        except Exception as exc:  # a bug: the job ends failed, the worker goes on
            log.exception("job %s crashed", job_id)
            self._end(record, error=f"internal error ({exc.__class__.__name__}: {exc})")
        return DONE

    def _analyse(self, record: JobRecord) -> None:
        started = time.perf_counter()
        job_modality = resolve_modality(record.modality, self.cfg)
        stages: dict[str, float] = {}
        self.store.set_progress(record.id, 10, "fetching")
        if record.video_url.startswith(SPOOL_SCHEME):
            data = self.spool.load(record.video_url)
        else:
            data = fetch_s3(record.video_url, self.cfg)
            self.store.set_progress(record.id, 25, "checking")
            check_media(data, job_modality, self.cfg)
        self.store.set_progress(record.id, 40, "decoding")
        t0 = time.perf_counter()
        stages["fetching"] = t0 - started
        request_id = f"job-{record.id}-{record.attempts}"
        follow = following_progress(job_modality.inference_url, request_id,
                                    self.cfg.jobs.progress_poll_interval_s,
                                    partial(self._follow, record.id))  # fmt: skip
        try:
            with follow:
                verdict = request_verdict(
                    job_modality.inference_url,
                    job_modality.model_name,
                    data,
                    self.cfg.jobs.inference_timeout_s,
                    request_id=request_id,
                )
        except MediaRefusedError as exc:
            if exc.error_type != NO_FACE:
                raise
            elapsed = time.perf_counter() - started
            result = no_face_result(record.id, record.modality, job_modality.model_name,
                                    str(exc), elapsed, record.attempts)  # fmt: skip
            self._end(
                record, result=validate_result(result), version=model_version(result["verdict"])
            )
            log.info("job %s completed: no face (%s)", record.id, exc)
            return
        t1 = time.perf_counter()
        stages["transformer"] = t1 - t0
        frames = verdict.get("anomalous_frames") or []
        if frames:
            self.store.set_progress(record.id, 85, "explaining")
            verdict["anomalous_frames"] = self.saliency.save(record.id, frames)
        self.store.set_progress(record.id, 90, "writing")
        stages["writing"] = time.perf_counter() - t1
        elapsed = time.perf_counter() - started
        result = build_result(record.id, record.modality, verdict, elapsed, record.attempts, stages)
        self._end(record, result=validate_result(result), version=model_version(verdict))
        log.info("job %s completed: %s in %.1f s", record.id, verdict["label"], elapsed)

    def _follow(self, job_id: str, stage: str, fraction: float) -> None:
        progress = job_progress(stage, fraction)
        if progress is not None:
            self.store.set_progress(job_id, progress, stage)

    @property
    def saliency(self) -> SaliencyStore:
        """Where this worker stores the saliency images of its jobs."""
        return SaliencyStore(saliency_dir(self.cfg.jobs.data_dir))

    def _end(self, record: JobRecord, *, result=None, version=None, error=None) -> None:
        try:
            if error is None:
                self.store.complete(record.id, result, version)
            else:
                log.warning("job %s failed: %s", record.id, error)
                self.store.fail(record.id, error)
                self.saliency.delete(record.id)  # only a completed job keeps its images
        finally:
            self.spool.delete(record.video_url)  # temporary media go whatever the end


def register_task(app: Celery, runner: JobRunner) -> None:
    """Register the analysis task on ``app``; it runs jobs with ``runner``."""

    @app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)
    def analyze(self, job_id: str) -> None:
        retry_in_s = runner.run(job_id)
        if retry_in_s is not DONE:
            raise self.retry(countdown=retry_in_s)
