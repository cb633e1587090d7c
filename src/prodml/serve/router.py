"""Which arm of a deployment's policy answers a caller: by a stable hash of the caller's
key, so the same caller gets the same arm on every request and on every replica, with no
state shared between them.

The hash (BLAKE2b of the deployment's name and the key) places each caller at a point in
[0, 1); the arms take consecutive slices of that interval, in the policy's order. A
canary lists its candidate first, so raising the candidate's share only moves callers
from the stable arm to the candidate, never back: a caller who saw the candidate at 5 %
still sees it at 25 %.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate

from prodml.serve.policy import Arm, Policy

_SCALE = float(1 << 64)


def position(deployment: str, key: str) -> float:
    """Where `key` falls in [0, 1) for `deployment`: uniform over keys, the same on every
    machine and run (unlike Python's `hash`, which is salted per process)."""
    digest = hashlib.blake2b(f"{deployment}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Routes callers of deployment `deployment` to the arms of `policy`."""

    def __init__(self, deployment: str, policy: Policy) -> None:
        self.deployment = deployment
        self.policy = policy
        # An arm of weight 0 (a shadow, a canary's stable arm at 100 %) answers no one.
        self._answering = [a for a in policy.arms if a.weight > 0]
        self._edges = list(accumulate(a.weight for a in self._answering))

    def route(self, key: str) -> Arm:
        """The arm that answers the caller with `key` (a request field's value, or the
        request id when the policy declares no key)."""
        index = bisect_right(self._edges, position(self.deployment, key))
        # Float sums may leave the last edge a hair under 1: the last arm takes the rest.
        return self._answering[min(index, len(self._answering) - 1)]

    def key_of(self, row: Mapping[str, object], request_id: str) -> str:
        """The routing key of a request whose first row is `row`."""
        if self.policy.key is None:
            return request_id
        value = row.get(self.policy.key)
        return request_id if value is None else str(value)
