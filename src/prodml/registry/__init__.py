"""Model registry: versions, aliases and integrity-checked loading, on MLflow's registry."""

from prodml.registry.registry import ModelRegistry, ModelVersionInfo

__all__ = ["ModelRegistry", "ModelVersionInfo"]
