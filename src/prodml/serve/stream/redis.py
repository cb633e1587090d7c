"""Redis Streams: a consumer group on the requests stream (each message's JSON in its
``body`` field), answers appended to the predictions stream at most once per request id
(an atomic check-and-append in Lua), poison messages to the dead-letter stream.

Redis has no delayed redelivery: a message left unacknowledged is claimed again
(``XAUTOCLAIM``) once it has been idle for `ack_wait` seconds, with its delivery count.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from prodml.errors import ConfigError
from prodml.serve.stream.base import Message, StreamBackend, Subjects

# Append the answer only if this request id has no answer yet (remembered for a day).
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return redis.call('XADD', KEYS[1], '*', 'request_id', ARGV[1], 'body', ARGV[2])
end
return false
"""
_REMEMBER_SECONDS = 86_400


class RedisBackend(StreamBackend):
    def __init__(
        self,
        url: str,
        subjects: Subjects,
        *,
        group: str,
        max_deliveries: int = 5,
        ack_wait: float = 30.0,
    ) -> None:
        super().__init__(subjects, max_deliveries=max_deliveries)
        self.url = url
        self.group = group
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.ack_wait = ack_wait
        self._client: Any = None
        self._publish: Any = None

    async def open(self) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import RedisError, ResponseError
        except ImportError as exc:
            raise ConfigError(
                "Streaming over Redis needs redis-py: pip install 'prodml[redis]'."
            ) from exc
        self._client = aioredis.Redis.from_url(self.url)
        try:
            await self._client.xgroup_create(
                self.subjects.requests, self.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists already: fine
                raise
        except RedisError as exc:
            raise ConfigError(f"Cannot reach Redis at {self.url}: {exc}.") from exc
        self._publish = self._client.register_script(_PUBLISH_ONCE)

    async def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        stale = await self._reclaim(max_messages)
        if stale:
            return stale
        found = await self._client.xreadgroup(
            self.group,
            self.consumer,
            {self.subjects.requests: ">"},
            count=max_messages,
            block=max(1, int(timeout * 1000)),
        )
        return [
            Message(fields.get(b"body", b""), entry.decode(), 1, entry)
            for _, entries in found
            for entry, fields in entries
        ]

    async def _reclaim(self, max_messages: int) -> list[Message]:
        """Messages delivered before but never acknowledged, idle past `ack_wait`."""
        _, claimed, _ = await self._client.xautoclaim(
            self.subjects.requests,
            self.group,
            self.consumer,
            min_idle_time=int(self.ack_wait * 1000),
            count=max_messages,
        )
        out = []
        for entry, fields in claimed:
            pending = await self._client.xpending_range(
                self.subjects.requests, self.group, min=entry, max=entry, count=1
            )
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            out.append(Message(fields.get(b"body", b""), entry.decode(), deliveries, entry))
        return out

    async def ack(self, message: Message) -> None:
        await self._client.xack(self.subjects.requests, self.group, message.handle)

    async def retry(self, message: Message, delay: float) -> None:
        """Left pending: claimed again after `ack_wait` (Redis cannot delay by `delay`)."""

    async def publish(self, request_id: str, body: bytes) -> None:
        await self._publish(
            keys=[self.subjects.predictions, f"{self.subjects.predictions}:answered:{request_id}"],
            args=[request_id, body, _REMEMBER_SECONDS],
        )

    async def send_request(self, body: bytes) -> None:
        await self._client.xadd(self.subjects.requests, {"body": body})

    async def dead_letter(self, message: Message, body: bytes) -> None:
        await self._client.xadd(self.subjects.dead, {"message_id": message.id, "body": body})

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
