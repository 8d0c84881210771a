"""CLI commands: serve, deploy (local | k8s), predict."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from veracity.cli.options import add_modality, modality_of
from veracity.errors import InputError

log = logging.getLogger(__name__)


def _modality(args, cfg) -> str:
    return modality_of(args, cfg)


def _model_name(args, cfg) -> str:
    """The served model (and InferenceService) name: the modality's registered model."""
    return cfg.modality_params(_modality(args, cfg)).registered_model


def _model_ref(args, cfg) -> str:
    return args.model or f"{_model_name(args, cfg)}{cfg.serving.default_model}"


def _serve(args, cfg) -> int:
    from veracity.serving.process import Terminated, sigterm_raises

    with sigterm_raises():  # `kill PID` (and k8s/systemd stops) stop both servers too
        try:
            return _serve_until_stopped(args, cfg)
        except Terminated:
            return 0


def _serve_until_stopped(args, cfg) -> int:
    from veracity.serving.process import start_stack, stop_server

    ref = _model_ref(args, cfg)
    predictor, transformer = start_stack(
        cfg,
        model=ref,
        params=args.params,
        overrides=list(args.overrides),
        log_dir=Path(args.log_dir),
        modality=_modality(args, cfg),
    )
    name = _model_name(args, cfg)
    print(f"predictor   {predictor.url}/v2/models/{name}/infer  (pid {predictor.pid})")
    print(f"transformer {transformer.url}/v1/models/{name}:predict  (pid {transformer.pid})")
    print(f"logs in {args.log_dir}; Ctrl-C stops both servers", flush=True)
    try:
        while predictor.proc.poll() is None and transformer.proc.poll() is None:
            time.sleep(1.0)
        print("a server exited; stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(transformer, predictor)


def _storage_uri(args, cfg) -> tuple[str, str, str]:
    """The bundle's real storage URI, the pinned ``NAME/VERSION`` and its digest."""
    ref = _model_ref(args, cfg)
    if ref.startswith("models:/") or ("@" in ref and "://" not in ref):
        from veracity.registry.models import (
            TAG_DIGEST,
            get_client,
            get_version,
            parse_model_ref,
            resolve_artifact_uri,
        )

        name = ref.removeprefix("models:/")
        if name.startswith("@"):
            name = _model_name(args, cfg) + name
        model, alias, version = parse_model_ref(name)
        mv = get_version(get_client(cfg), model, alias, version)  # the alias, pinned now
        uri = resolve_artifact_uri(mv.source, cfg.gate)
        return str(uri), f"{model}/{mv.version}", (mv.tags or {}).get(TAG_DIGEST, "")
    return ref, "", ""


def _deploy(args, cfg) -> int:
    if args.target == "local":
        return _serve(args, cfg)
    if not args.dry_run:
        raise InputError(
            "deploy --target k8s only renders manifests here (no cluster access); pass "
            "--dry-run and apply the output with kubectl apply -f"
        )
    from veracity.serving.manifests import render_inference_service, to_yaml

    uri, version, digest = _storage_uri(args, cfg)
    if not uri.startswith("s3://"):
        log.warning(
            "storage URI %s is not s3://; KServe's storage initializer may not fetch it", uri
        )
    text = to_yaml(render_inference_service(cfg, _modality(args, cfg), uri, version, digest))
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _predict(args, cfg) -> int:
    from veracity.serving.client import predict_file

    url = args.url or f"http://{cfg.serving.host}:{cfg.serving.transformer_port}"
    verdict = predict_file(args.file, url, _model_name(args, cfg), cfg.serving.request_timeout_s)
    if not args.full:
        verdict.pop("monitoring", None)
    print(json.dumps(verdict, indent=2))
    return 0


def register(sub) -> None:
    """Add serve, deploy and predict."""
    model_help = "bundle: local dir, s3:// URI or NAME@alias (default: <registered model>@champion)"
    p = sub.add_parser(
        "serve", help="start predictor + transformer on 127.0.0.1 (ports from params)"
    )
    p.add_argument("--model", default=None, help=model_help)
    p.add_argument(
        "--log-dir", default="data/serving_logs", help="server logs (default: %(default)s)"
    )
    add_modality(p)
    p.set_defaults(func=_serve)

    p = sub.add_parser("deploy", help="serve locally, or render the KServe InferenceService")
    p.add_argument("--target", choices=["local", "k8s"], required=True)
    p.add_argument("--model", default=None, help=model_help)
    p.add_argument("--dry-run", action="store_true", help="k8s: only render the manifest")
    p.add_argument("--out", default=None, help="k8s: write the YAML here instead of stdout")
    p.add_argument("--log-dir", default="data/serving_logs")
    add_modality(p)
    p.set_defaults(func=_deploy)

    p = sub.add_parser("predict", help="send an audio file to a transformer, print the verdict")
    p.add_argument("file")
    p.add_argument("--url", default=None, help="transformer base URL (default: from params)")
    p.add_argument("--full", action="store_true", help="include the monitoring row")
    add_modality(p)
    p.set_defaults(func=_predict)
