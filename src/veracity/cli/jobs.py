"""CLI commands: ``jobs serve`` (the job API) and ``jobs worker`` (a Celery worker).

This is the edge where the job service meets its environment: the store and broker URLs
come from the environment or params (:mod:`veracity.jobs.services`), the embedded Redis is
started (and stopped by pid) when no broker is configured, and the store is migrated to
the newest revision before either side starts.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def _store(cfg, urls):
    from veracity.jobs.migrate import run_migrations
    from veracity.jobs.store import JobStore, make_engine

    engine = make_engine(urls.database)
    run_migrations(engine)
    return JobStore(engine)


def _spool(cfg):
    from veracity.jobs.sources import Spool

    return Spool(Path(cfg.jobs.data_dir) / "spool")


def _urls(cfg, decoder: bool):
    from veracity.jobs.intake import check_limits_agree, warm_up
    from veracity.jobs.services import resolve_urls

    check_limits_agree(cfg)
    warm_up(cfg, decoder)
    return resolve_urls(cfg.jobs, os.environ)


def _serve(args, cfg) -> int:
    from veracity.serving.process import Terminated, sigterm_raises

    # uvicorn re-raises the SIGTERM it handled: it must reach the cleanup of _serve_until_stopped
    with sigterm_raises():
        try:
            return _serve_until_stopped(args, cfg)
        except Terminated:
            return 0


def _serve_until_stopped(args, cfg) -> int:
    import uvicorn

    from veracity.jobs.api import JobService, create_app
    from veracity.jobs.queue import make_celery, publisher
    from veracity.jobs.services import redis_answers, start_redis, stop_process

    jobs = cfg.jobs
    urls = _urls(cfg, decoder=True)
    redis = None
    if urls.embedded_broker and not redis_answers("127.0.0.1", jobs.embedded_redis_port):
        redis = start_redis(
            Path(jobs.data_dir) / "redis", jobs.embedded_redis_port, jobs.redis_start_timeout_s
        )
    worker = None
    try:
        store = _store(cfg, urls)
        celery_app = make_celery(jobs, urls.broker)
        service = JobService(cfg, store, _spool(cfg), publisher(celery_app, jobs.queue))
        if args.with_worker:
            worker = _spawn_worker(args)
        host, port = args.host or jobs.host, args.port or jobs.port
        print(f"job API on http://{host}:{port} (OpenAPI: /docs, /openapi.json)", flush=True)
        uvicorn.run(create_app(service), host=host, port=port, timeout_graceful_shutdown=5)
    finally:
        if worker is not None:
            stop_process(worker)
        if redis is not None:
            stop_process(redis)
    return 0


def _spawn_worker(args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "veracity", "--params", str(args.params)]
    for item in args.overrides:
        cmd += ["--set", item]
    from veracity.serving.process import die_with_parent  # the worker goes with `jobs serve`

    proc = subprocess.Popen([*cmd, "jobs", "worker"], preexec_fn=die_with_parent)
    log.info("started a job worker (pid %d)", proc.pid)
    return proc


def _worker(args, cfg) -> int:
    from veracity.errors import ConfigError
    from veracity.jobs.queue import make_celery
    from veracity.jobs.services import redis_answers
    from veracity.jobs.worker import JobRunner, register_task

    jobs = cfg.jobs
    urls = _urls(cfg, decoder=False)
    if urls.embedded_broker and not redis_answers("127.0.0.1", jobs.embedded_redis_port):
        raise ConfigError(
            f"expected the embedded Redis on 127.0.0.1:{jobs.embedded_redis_port}, found none; "
            "start `veracity jobs serve` first (it starts it) or set jobs.broker_url"
        )
    runner = JobRunner(cfg, _store(cfg, urls), _spool(cfg))
    app = make_celery(jobs, urls.broker)
    register_task(app, runner)
    # Celery warns when a container runs it as root; the images run as an unprivileged user
    warnings.filterwarnings("ignore", message=".*superuser privileges.*")
    argv = [
        "worker", f"--pool={args.pool or jobs.worker_pool}",
        f"--concurrency={args.concurrency or jobs.worker_concurrency}",
        f"--queues={jobs.queue}", f"--hostname=veracity-jobs-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=DEBUG" if args.verbose else "--loglevel=INFO",
    ]  # fmt: skip
    print(f"job worker (pid {os.getpid()}) on queue {jobs.queue}", flush=True)
    app.worker_main(argv)
    return 0


MANIFEST_HEADER = """The job service on Kubernetes: rendered by `veracity jobs manifests --out infra/jobs/jobs.yaml`
from params.yaml jobs.k8s (edit params and re-render; tests/unit/test_jobs_manifests.py checks
they agree). Needs KEDA (ScaledObject, TriggerAuthentication) and the Secret jobs.k8s.secret;
apply with: kubectl kustomize --load-restrictor LoadRestrictionsNone infra/jobs | kubectl apply -f -
(docs/jobs.md "Kubernetes")."""


def _manifests(args, cfg) -> int:
    from veracity.jobs.manifests import render_jobs_manifests, to_yaml_stream

    text = to_yaml_stream(render_jobs_manifests(cfg), MANIFEST_HEADER)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def register(sub) -> None:
    """Add ``jobs serve``, ``jobs worker`` and ``jobs manifests``."""
    jobs = sub.add_parser("jobs", help="asynchronous analysis jobs: API and workers")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="JOBS_COMMAND")
    jobs_sub.required = True

    p = jobs_sub.add_parser("serve", help="the job API (starts the embedded Redis if needed)")
    p.add_argument("--host", default=None, help="bind address (default: jobs.host)")
    p.add_argument("--port", type=int, default=None, help="port (default: jobs.port)")
    p.add_argument(
        "--with-worker", action="store_true", help="also start one worker process (demo)"
    )
    p.set_defaults(func=_serve)

    p = jobs_sub.add_parser("worker", help="a Celery worker that runs analysis jobs")
    p.add_argument("--pool", default=None, help="celery pool (default: jobs.worker_pool)")
    p.add_argument("--concurrency", type=int, default=None)
    p.set_defaults(func=_worker)

    p = jobs_sub.add_parser("manifests", help="render the Kubernetes manifests (jobs.k8s)")
    p.add_argument("--out", default=None, help="write the YAML here instead of stdout")
    p.set_defaults(func=_manifests)
