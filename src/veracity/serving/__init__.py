"""KServe model servers: the detectors' predictor and the verdict transformer.

``predictor.DetectorPredictor`` and ``transformer.VerdictTransformer`` are the KServe models;
``server`` starts one of them; ``process`` starts/stops both as local processes; ``client``
sends a recording to a transformer; ``manifests`` renders the InferenceService.
"""
