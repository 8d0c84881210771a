"""Where the job service's store and broker are, the embedded Redis, and the jobs params."""

from __future__ import annotations

import pytest

from veracity.config import parse_config
from veracity.errors import ConfigError
from veracity.jobs.intake import check_limits_agree
from veracity.jobs.services import (
    ENV_BROKER,
    ENV_DATABASE,
    redis_answers,
    resolve_urls,
    start_redis,
    stop_process,
)
from veracity.serving.process import find_free_port


def _jobs(cfg, tmp_path, **overrides):
    values = {"jobs.data_dir": str(tmp_path), **{f"jobs.{k}": v for k, v in overrides.items()}}
    return parse_config(cfg.to_dict(), values).jobs


def test_embedded_defaults_then_params_then_environment(cfg, tmp_path):
    urls = resolve_urls(_jobs(cfg, tmp_path), {})
    assert urls.database == f"sqlite:///{tmp_path.resolve() / 'jobs.db'}"
    assert (
        urls.embedded_broker
        and urls.broker == f"redis://127.0.0.1:{cfg.jobs.embedded_redis_port}/0"
    )
    jobs = _jobs(
        cfg, tmp_path, database_url="postgresql+psycopg://db/j", broker_url="redis://r:1/0"
    )
    urls = resolve_urls(jobs, {})
    assert (urls.database, urls.broker, urls.embedded_broker) == (
        "postgresql+psycopg://db/j", "redis://r:1/0", False)  # fmt: skip
    env = {ENV_DATABASE: "postgresql+psycopg://env/j", ENV_BROKER: "rediss://env:6380/1"}
    urls = resolve_urls(jobs, env)
    assert (urls.database, urls.broker) == tuple(env.values())


def test_a_broker_that_is_not_redis_is_refused(cfg, tmp_path):
    with pytest.raises(ConfigError, match="redis://"):
        resolve_urls(_jobs(cfg, tmp_path), {ENV_BROKER: "amqp://guest@rabbit//"})


def test_params_refuse_redelivery_of_running_jobs_and_limits_above_serving(cfg, tmp_path):
    with pytest.raises(ConfigError, match="visibility_timeout_s"):
        _jobs(cfg, tmp_path, visibility_timeout_s=100, time_limit_s=100)
    too_long = parse_config(cfg.to_dict(), {"jobs.max_media_seconds": 1e4})
    with pytest.raises(ConfigError, match="serving.max_audio_seconds"):
        check_limits_agree(too_long)
    check_limits_agree(cfg)


def test_embedded_redis_starts_answers_and_stops(tmp_path):
    port = find_free_port()
    proc = start_redis(tmp_path / "redis", port, timeout_s=10)
    try:
        assert redis_answers("127.0.0.1", port)
    finally:
        stop_process(proc)
    assert proc.returncode is not None and not redis_answers("127.0.0.1", port)
    assert (tmp_path / "redis" / "redis.log").is_file()
