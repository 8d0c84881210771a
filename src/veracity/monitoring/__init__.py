"""Monitoring: the payload log of every prediction, the KServe-logger receiver and drift.

- :mod:`~veracity.monitoring.schema`: the payload row (schema version 1).
- :mod:`~veracity.monitoring.payload`: ``PayloadLogger``, the buffered never-blocking writer.
- :mod:`~veracity.monitoring.sinks`: local/S3 files of rows, and reading them back.
- :mod:`~veracity.monitoring.receiver`: the CloudEvents receiver (``veracity monitor collect``).
- :mod:`~veracity.monitoring.drift`: the Evidently drift report (pure) and its JSON summary.
- :mod:`~veracity.monitoring.job`: the drift job's I/O edge (``veracity monitor drift``).
- :mod:`~veracity.media.shifts` and :mod:`~veracity.cli.demo_drift`: deployment shifts
  and the drift demo.

Submodules are imported on use: the transformer needs only ``payload`` (no evidently).
"""
