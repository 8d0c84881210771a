"""KFP pipelines of Veracity: ``retrain`` (compiled to retrain.yaml, checked in)."""
