"""infra/monitoring: manifests parse, agree with params.yaml and the KServe logger URL, and
their commands are valid `veracity` invocations."""

from __future__ import annotations

import shlex
from urllib.parse import urlparse

import yaml

from veracity.cli import build_parser


def _docs(repo_root, name):
    return list(yaml.safe_load_all((repo_root / "infra" / "monitoring" / name).read_text()))


def _veracity_argv(script: str) -> list[str]:
    """The `veracity ...` command of a container's sh -c script, with $VARS as placeholders."""
    command = script.split(";")[0].replace("exec ", "")
    argv = shlex.split(command.replace("$(date -u +%Y-%m-%d)", "2025-01-01"))
    assert argv[0] == "veracity"
    return [a.replace("$", "VAR_") for a in argv[1:]]


def test_receiver_service_matches_params_and_kserve_logger(cfg, repo_root):
    deployment, service = _docs(repo_root, "receiver.yaml")
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    port = service["spec"]["ports"][0]["port"]
    assert port == cfg.monitoring.receiver.port
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = _veracity_argv(container["args"][0])
    args = build_parser().parse_args(argv)
    assert args.monitor_command == "collect" and args.port == port
    isvc = yaml.safe_load(
        (repo_root / "infra" / "kserve" / "base" / "veracity-voice.yaml").read_text()
    )
    url = urlparse(isvc["spec"]["transformer"]["logger"]["url"])
    assert url.hostname.split(".")[0] == service["metadata"]["name"] and url.port == port


def test_drift_cronjob_runs_daily_with_a_valid_command(repo_root):
    (cron,) = _docs(repo_root, "drift-cronjob.yaml")
    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "0 6 * * *"
    spec = cron["spec"]["jobTemplate"]["spec"]
    assert spec["backoffLimit"] == 0
    container = spec["template"]["spec"]["containers"][0]
    script = container["args"][0]
    args = build_parser().parse_args(_veracity_argv(script))
    assert args.monitor_command == "drift" and args.retrain_on_drift and args.host
    assert 'if [ "$rc" -eq 11 ]; then exit 0' in script  # not enough data is not a failure
