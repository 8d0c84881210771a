"""The one builder of every modality's Kubeflow pipeline ``retrain-<modality>``.

ingest -> validate -> features -> (train -> calibrate) per detector role -> evaluate ->
gate -> (pass: publish challenger | fail: stop), all inside an exit handler that writes the
run summary even when a step fails. The roles come from the modality's params: those
that train on the features alone run in a first loop (one after another when the policy
reads one before another), whose calibrated models are collected into a detector set;
roles built on others (``trains_on``) run in a second loop on that set, which ``extend``
adds them to. Evaluate and the gate read the final detector set.

Images come from one place: params ``pipeline.image_registry`` / ``pipeline.image_tag``;
the params themselves travel as the ``params_yaml`` run parameter, so no params file is
baked into an image. Each ``pipelines/retrain_<modality>.py`` builds its pipeline at module
level, so KFP's own CLI compiles it: ``kfp dsl compile --py pipelines/retrain_voice.py
--output pipelines/retrain-voice.yaml`` (what ``veracity pipeline compile`` runs).
"""

# no `from __future__ import annotations`: KFP reads the real type annotations

from pathlib import Path

from kfp import dsl

from components.calibrate import component as calibrate_c
from components.evaluate import component as evaluate_c
from components.features import component as features_c
from components.gate import component as gate_c
from components.ingest import component as ingest_c
from components.summary import component as summary_c
from components.train import component as train_c
from components.validate import component as validate_c
from veracity.config import Config, load_config
from veracity.modalities import load_modality
from veracity.orchestration.images import step_image

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def repo_config() -> Config:
    """The repository's params.yaml (what the checked-in compiled pipelines are built from)."""
    return load_config(REPO_PARAMS)


def build_pipeline(cfg: Config, modality: str):
    """Return the ``@dsl.pipeline`` of ``modality``, its components built for the images."""
    pcfg = cfg.pipeline
    mod = load_modality(modality, cfg.modality_packages)
    specs = mod.detectors(cfg.modality_params(modality))
    roles = [s.role for s in specs]
    base_roles = [s.role for s in specs if not s.trains_on]
    derived_roles = [s.role for s in specs if s.trains_on]
    sequential = any(s.depends_on for s in specs)
    ingest_op = ingest_c.build(step_image(pcfg, "ingest"))
    validate_op = validate_c.build(step_image(pcfg, "validate"))
    features_op = features_c.build(step_image(pcfg, "features"))
    train_op = train_c.build(step_image(pcfg, "train"))
    train_on_op = train_c.build_on(step_image(pcfg, "train"))
    calibrate_op = calibrate_c.build(step_image(pcfg, "calibrate"))
    collect_op = calibrate_c.build_collect(step_image(pcfg, "calibrate"))
    extend_op = calibrate_c.build_extend(step_image(pcfg, "calibrate"))
    evaluate_op = evaluate_c.build(step_image(pcfg, "evaluate"))
    gate_op = gate_c.build(step_image(pcfg, "gate"))
    publish_op = gate_c.build_publish(step_image(pcfg, "gate"))
    stop_op = gate_c.build_stop(step_image(pcfg, "gate"))
    summary_op = summary_c.build(step_image(pcfg, "summary"))

    def cached(task, name: str):
        task.set_caching_options(pcfg.enable_caching)
        task.set_display_name(name)
        return task

    def on_gpu(task):
        task.set_cpu_limit(pcfg.train_cpu_limit).set_memory_limit(pcfg.train_memory_limit)
        if pcfg.accelerator_limit > 0:
            task.set_accelerator_type(pcfg.accelerator_type)
            task.set_accelerator_limit(pcfg.accelerator_limit)
        return task

    @dsl.pipeline(
        name=f"{pcfg.name}-{modality}",
        description=f"Monthly retraining of the Veracity {modality} detectors ({', '.join(roles)}) "
        "with per-detector and verdict-level quality gates.",
    )
    def retrain(
        params_yaml: str = "",
        overrides: list = [],  # noqa: B006 - KFP pipeline defaults are compiled, not shared
        validate_overrides: list = [],  # noqa: B006 - validate.* keys: reach validate only
        gate_overrides: list = [],  # noqa: B006 - gate.* keys: reach the gate only
        source: str = "",
        fmt: str = "",
        data_version: str = "",
        model_name: str = "",
        summary_root: str = "",
    ):
        common = {"params_yaml": params_yaml, "overrides": overrides, "modality": modality}
        summary = summary_op(
            **common,
            validate_overrides=validate_overrides,
            gate_overrides=gate_overrides,
            source=source,
            data_version=data_version,
            model_name=model_name,
            summary_root=summary_root,
            pipeline_root=dsl.PIPELINE_ROOT_PLACEHOLDER,
            job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        )
        summary.set_caching_options(False).set_display_name("summary")
        with dsl.ExitHandler(summary, name="retrain"):
            ingest = cached(
                ingest_op(**common, source=source, fmt=fmt, data_version=data_version), "ingest"
            )
            validate = cached(
                validate_op(
                    **common, step_overrides=validate_overrides, corpus=ingest.outputs["corpus"]
                ),
                "validate",
            )
            features = cached(
                features_op(
                    **common,
                    corpus=ingest.outputs["corpus"],
                    validation=validate.outputs["validation"],
                ),
                "features",
            )
            feats = features.outputs["features"]
            # One train -> calibrate chain per role; roles the policy reads in order run so.
            with dsl.ParallelFor(items=base_roles, parallelism=1 if sequential else 0) as role:
                train = on_gpu(cached(train_op(**common, features=feats, role=role), "train"))
                calibrated = cached(
                    calibrate_op(**common, model=train.outputs["model"], features=feats),
                    "calibrate",
                )
            detector_set = cached(
                collect_op(models=dsl.Collected(calibrated.outputs["calibrated"])), "collect"
            )
            if derived_roles:
                # roles built on the first loop's trained models (their encoders frozen)
                with dsl.ParallelFor(items=derived_roles) as role:
                    train_on = on_gpu(
                        cached(
                            train_on_op(
                                **common,
                                features=feats,
                                role=role,
                                upstream=detector_set.outputs["detectors"],
                            ),
                            "train",
                        )
                    )
                    calibrated_on = cached(
                        calibrate_op(**common, model=train_on.outputs["model"], features=feats),
                        "calibrate",
                    )
                detector_set = cached(
                    extend_op(
                        base=detector_set.outputs["detectors"],
                        models=dsl.Collected(calibrated_on.outputs["calibrated"]),
                    ),
                    "collect",
                )
            detectors = detector_set.outputs["detectors"]
            evaluate = cached(
                evaluate_op(**common, detectors=detectors, features=feats), "evaluate"
            )
            gate = cached(
                gate_op(
                    **common,
                    step_overrides=gate_overrides,
                    model_name=model_name,
                    detectors=detectors,
                    evaluation=evaluate.outputs["evaluation"],
                ),
                "gate",
            )
            with dsl.If(gate.outputs["verdict"] == "pass", name="gate-passed"):
                publish_op(
                    **common,
                    model_name=model_name,
                    model_version=gate.outputs["model_version"],
                    bundle=gate.outputs["bundle"],
                ).set_caching_options(False).set_display_name("register-challenger")
            with dsl.Else(name="gate-failed"):
                stop_op(step="gate", reasons=gate.outputs["reasons"]).set_caching_options(
                    False
                ).set_display_name("stop")

    return retrain
