"""Entry point of both model servers: ``python -m veracity.serving predictor|transformer``.

This is the I/O edge of serving: it reads params.yaml and argv, resolves and downloads the
model bundle, installs the central error handlers and the ``/veracity/stats`` route on
KServe's FastAPI app, and starts a KServe ``ModelServer`` with its own HTTP and gRPC ports
(the KServe defaults clash when two servers share a host).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

from veracity.config import Config, load_config
from veracity.errors import ModelArtifactError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the server entry point (ports default to params.yaml ``serving``)."""
    parser = argparse.ArgumentParser(prog="python -m veracity.serving")
    parser.add_argument("kind", choices=["predictor", "transformer"])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--host", default=None, help="bind address (default: serving.host)")
    parser.add_argument("--http_port", type=int, default=None)
    parser.add_argument("--grpc_port", type=int, default=None)
    parser.add_argument("--modality", default=None, help="modality served (default: params)")
    parser.add_argument("--model_name", default=None, help="default: the modality's model name")
    parser.add_argument("--storage_uri", default=None, help="bundle: dir, s3:// or NAME@alias")
    parser.add_argument("--predictor_host", default=None, help="host:port of the predictor")
    parser.add_argument(
        "--verify_ref",
        default=None,
        help="registry version NAME/VERSION the bundle must be approved as (default: the "
        "--storage_uri reference itself)",
    )
    return parser


def resolve_bundle(ref: str, cfg: Config, registered_model: str) -> Path:
    """A local bundle directory for a local path, an s3:// URI or a registry reference.

    ``models:/...``, ``NAME@alias`` and ``NAME/VERSION`` go through the MLflow registry to the bundle's
    real storage URI; s3:// URIs are downloaded under ``serving.model_cache_dir``.
    """
    from veracity.serving.verify import registry_ref
    from veracity.storage import fetch_to_local, is_s3_uri

    if registry_ref(ref):  # NAME@alias, NAME/VERSION or models:/...
        from veracity.registry.models import resolve_model_uri

        name = ref.removeprefix("models:/")
        if name.startswith("@"):
            name = registered_model + name
        resolved = resolve_model_uri(cfg, name)
        log.info("registry reference %s resolves to %s", ref, resolved)
        ref = str(resolved)
    if is_s3_uri(ref):
        key = hashlib.sha256(ref.encode()).hexdigest()[:16]
        dest = Path(cfg.serving.model_cache_dir) / key
        return Path(fetch_to_local(ref, dest, cfg.storage))
    path = Path(ref.removeprefix("file://"))
    if not path.is_dir():
        raise ModelArtifactError(
            f"expected a model bundle directory, s3:// URI or NAME@alias, got {ref!r} "
            "(no such directory); pass --model with a bundle written by the gate step"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Start one model server and block until it is stopped (SIGTERM/SIGINT)."""
    from veracity.logs import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging()
    cfg = load_config(args.params, args.overrides)
    import kserve
    import torch
    from kserve import model_server

    torch.set_num_threads(cfg.serving.num_threads)
    modality = args.modality or cfg.modality
    registered = cfg.modality_params(modality).registered_model
    name = args.model_name or registered
    host = args.host or cfg.serving.host
    ref = args.storage_uri or cfg.serving.default_model
    if ref.startswith("@"):  # `veracity serve` default: <the modality's model>@champion
        ref = registered + ref
    bundle = resolve_bundle(ref, cfg, registered)
    # both servers read the bundle (the transformer its contract, policy and domain guard):
    # each serves it only when its version is approved and its files match the approval
    from veracity.serving.verify import verify_servable

    verify_servable(cfg, bundle, args.verify_ref or ref)
    if args.kind == "predictor":
        from veracity.serving.predictor import DetectorPredictor

        model = DetectorPredictor(name, bundle, cfg, modality)
        model.load()
        stats = model.describe
        http_port = args.http_port or cfg.serving.predictor_port
        grpc_port = args.grpc_port or cfg.serving.predictor_grpc_port
    else:
        from veracity.serving.transformer import VerdictTransformer

        model = VerdictTransformer(
            name,
            args.predictor_host or f"{cfg.serving.host}:{cfg.serving.predictor_port}",
            cfg,
            bundle,
            payload_logger=_make_payload_logger(cfg),
            modality=modality,
        )
        model.load()
        stats = model.stats
        http_port = args.http_port or cfg.serving.transformer_port
        grpc_port = args.grpc_port or cfg.serving.transformer_grpc_port

    app = model_server.app
    from veracity.serving.content import ContentTypeMiddleware
    from veracity.serving.limits import BodyLimitMiddleware

    app.add_middleware(ContentTypeMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.serving.max_request_bytes)
    app.add_api_route("/veracity/stats", _stats_route(stats), methods=["GET"])
    if args.kind == "transformer":  # live progress of the requests in flight (job service)
        app.add_api_route(
            "/veracity/progress/{request_id}", _progress_route(model.progress), methods=["GET"]
        )
    server = _BoundModelServer(host=host, http_port=http_port, grpc_port=grpc_port)
    log.info(
        "%s %s listening on http://%s:%d (grpc %d)", args.kind, name, host, http_port, grpc_port
    )
    server.start([model])
    if isinstance(model, kserve.Model) and getattr(model, "payload_logger", None) is not None:
        model.payload_logger.close()
    return 0


def _stats_route(stats):
    async def route() -> dict:
        return stats()

    return route


def _progress_route(board):
    async def route(request_id: str) -> dict:
        return board.get(request_id)

    return route


def _make_payload_logger(cfg: Config):
    if not cfg.serving.payload_logging:
        return None
    try:
        from veracity.monitoring.payload import PayloadLogger
    except ImportError:  # monitoring is optional for serving
        log.warning("veracity.monitoring is unavailable; payload logging is off")
        return None
    return PayloadLogger(cfg.monitoring, cfg.storage)


def _bound_model_server_class():
    from kserve import ModelServer

    from veracity.serving.errors import install_error_handlers

    class BoundModelServer(ModelServer):
        """KServe's ModelServer, but the REST server binds to ``host`` instead of 0.0.0.0."""

        def __init__(self, host: str, **kwargs):
            super().__init__(**kwargs)
            self.host = host

        async def _serve(self):
            rest = self._rest_server
            if rest is not None:
                rest.config.host = self.host  # uvicorn reads host when it binds, i.e. later
                kserve_handlers = rest._add_exception_handlers

                def add_handlers(app):
                    # after KServe's own, so ours win for InferenceError
                    kserve_handlers(app)
                    install_error_handlers(app)

                rest._add_exception_handlers = add_handlers
            await super()._serve()

    return BoundModelServer


def _BoundModelServer(host: str, http_port: int, grpc_port: int):  # noqa: N802
    return _bound_model_server_class()(host=host, http_port=http_port, grpc_port=grpc_port)
