"""KFP pipelines of Veracity: one ``retrain_<modality>.py`` per modality, one builder."""
