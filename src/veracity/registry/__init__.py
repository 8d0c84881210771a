"""Registry: MLflow tracking, model registry and the approval audit."""
