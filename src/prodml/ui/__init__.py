"""The console: server-rendered pages over the workspace's own services, for the people
around a model who do not read CLI tables (`prodml ui`)."""

from prodml.ui.app import create_ui

__all__ = ["create_ui"]
