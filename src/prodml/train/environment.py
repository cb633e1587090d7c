"""What a trained model depends on beyond data and code: the installed packages."""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import cache


@cache
def installed_packages() -> list[str]:
    """Every installed distribution as NAME==VERSION, sorted (the lockfile's stand-in)."""
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())


@cache
def environment_digest() -> str:
    """A hash of `installed_packages()`: equal digests, equal environments."""
    return hashlib.sha256("\n".join(installed_packages()).encode()).hexdigest()[:16]
