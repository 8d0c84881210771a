"""Pretrained encoders shared by several modalities (wav2vec 2.0 now; AST and EfficientNet later)."""
