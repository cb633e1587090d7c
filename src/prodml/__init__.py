"""prodml: carry a tabular model from the notebook to production, and keep it healthy there."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("prodml")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
