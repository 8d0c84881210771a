"""Typed ``jobs:`` section of params.yaml (the asynchronous analysis job service).

Kept beside the service and free of other Veracity imports, because
:mod:`veracity.config` imports it to type its ``jobs`` field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StoreK8sConfig(BaseModel):
    """Redis or PostgreSQL in the cluster: a StatefulSet here, or an external endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deploy: bool  # false = external: its URL is in the Secret, no StatefulSet is rendered
    image: str
    port: int = Field(gt=0, lt=65536)
    storage_size: str
    storage_class: str  # empty = the cluster's default StorageClass
    resources: dict[str, dict[str, str]]


class JobsK8sConfig(BaseModel):
    """Kubernetes manifests of the job service (``veracity jobs manifests``, infra/jobs/)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str
    service_account: str
    secret: str  # database_url, broker_url, postgres_password, redis_password (docs/jobs.md)
    api_replicas: int = Field(gt=0)
    api_resources: dict[str, dict[str, str]]
    worker_resources: dict[str, dict[str, str]]
    worker_min_replicas: int = Field(gt=0)  # >0: a live worker restores lost jobs
    worker_max_replicas: int = Field(gt=0)
    queued_jobs_per_worker: int = Field(gt=0)  # KEDA target: waiting jobs per worker replica
    keda_polling_interval_s: int = Field(gt=0)
    keda_cooldown_s: int = Field(ge=0)
    keda_namespace: str  # the KEDA operator reads the queue length from Redis
    ingress_namespaces: list[str]  # namespaces (ingress controllers) that may call the API
    inference_urls: dict[str, str]  # in-cluster transformer URL per modality
    spool_size: str  # ReadWriteMany volume shared by API and workers (uploads)
    spool_storage_class: str
    store_run_as_user: int = Field(gt=0)  # uid of the official redis / postgres images
    redis_address: str  # host:port KEDA polls; empty = the in-cluster StatefulSet's service
    redis: StoreK8sConfig
    postgres: StoreK8sConfig
    postgres_database: str
    postgres_user: str

    @model_validator(mode="after")
    def _consistent(self) -> JobsK8sConfig:
        if self.worker_max_replicas < self.worker_min_replicas:
            raise ValueError(
                f"jobs.k8s.worker_max_replicas ({self.worker_max_replicas}) must be at least "
                f"worker_min_replicas ({self.worker_min_replicas})"
            )
        if not self.redis.deploy and not self.redis_address:
            raise ValueError(
                "jobs.k8s.redis.deploy is false (external Redis) but jobs.k8s.redis_address is "
                "empty; set it to the host:port KEDA reads the queue length from"
            )
        return self


class JobsConfig(BaseModel):
    """The job API, its queue, its store and its workers (docs/jobs.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(gt=0, lt=65536)
    database_url: str  # empty = SQLite in data_dir; env VERACITY_JOBS_DATABASE_URL wins
    broker_url: str  # empty = embedded Redis on embedded_redis_port; env VERACITY_JOBS_BROKER_URL
    data_dir: str  # SQLite file, embedded Redis data, upload spool
    embedded_redis_port: int = Field(gt=0, lt=65536)
    redis_start_timeout_s: float = Field(gt=0)
    queue: str
    inference_urls: dict[str, str]  # modality -> transformer base URL (KServe V1 :predict)
    inference_timeout_s: float = Field(gt=0)
    max_upload_bytes: int = Field(gt=0)
    max_source_bytes: int = Field(gt=0)  # s3:// objects larger than this are refused
    max_media_seconds: float = Field(gt=0)
    max_active_jobs: int = Field(gt=0)  # queued + running; more get 503 + Retry-After
    retry_after_s: int = Field(gt=0)
    max_concurrent_checks: int = Field(gt=0)  # uploads header-checked at once by the API
    time_limit_s: float = Field(gt=0)  # a job running longer is killed (hard limit)
    visibility_timeout_s: float = Field(gt=0)  # unacknowledged jobs are redelivered after this
    restore_interval_s: float = Field(gt=0)  # how often workers look for such jobs
    publish_grace_s: float = Field(gt=0)  # a queued job unpublished this long is published again
    republish_after_s: float = Field(gt=0)  # a queued job published this long ago: again
    republish_interval_s: float = Field(gt=0)  # how often the API looks for both
    max_attempts: int = Field(gt=0)  # deliveries of one job (lost workers) before it fails
    max_retries: int = Field(ge=0)  # retries of an unavailable transformer before it fails
    retry_backoff_s: float = Field(ge=0)
    sse_poll_interval_s: float = Field(gt=0)
    progress_poll_interval_s: float = Field(gt=0)  # the worker reads the transformer's progress
    sse_max_seconds: float = Field(gt=0)
    worker_pool: str  # celery pool: solo (one job per process) | prefork | threads
    worker_concurrency: int = Field(gt=0)
    k8s: JobsK8sConfig

    @model_validator(mode="after")
    def _timings_consistent(self) -> JobsConfig:
        # a live worker's job must never be redelivered to another: it would run twice
        if self.visibility_timeout_s <= self.time_limit_s:
            raise ValueError(
                f"jobs.visibility_timeout_s ({self.visibility_timeout_s:g}) must exceed "
                f"jobs.time_limit_s ({self.time_limit_s:g}), or running jobs are delivered "
                "twice; raise the visibility timeout"
            )
        # a message Redis still holds comes back within the visibility timeout: publishing
        # it again sooner only adds duplicates
        if self.republish_after_s <= self.visibility_timeout_s:
            raise ValueError(
                f"jobs.republish_after_s ({self.republish_after_s:g}) must exceed "
                f"jobs.visibility_timeout_s ({self.visibility_timeout_s:g}), or jobs whose "
                "message is still in the queue are published again; raise republish_after_s"
            )
        return self
