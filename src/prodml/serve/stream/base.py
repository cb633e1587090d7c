"""What a broker must offer the stream worker: at-least-once delivery with acknowledgement,
a redelivery count, idempotent publishing by request id, and a dead-letter destination.

Subjects (NATS) or stream keys (Redis) are derived from one prefix and the model's name:
``<prefix>.<model>.requests`` in, ``.predictions`` out, ``.dead`` for poison messages, and
``.log`` for the prediction log shipped by `logship`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from prodml.errors import ConfigError


@dataclass(frozen=True)
class Message:
    data: bytes
    id: str  # the broker's own id for this message: a stream sequence or an entry id
    deliveries: int  # how many times it has been delivered, this time included
    handle: Any = None  # the broker's message object, for ack and nak


@dataclass(frozen=True)
class Subjects:
    requests: str
    predictions: str
    dead: str
    log: str

    @classmethod
    def for_model(cls, prefix: str, model: str) -> Subjects:
        base = f"{prefix}.{model}"
        return cls(f"{base}.requests", f"{base}.predictions", f"{base}.dead", f"{base}.log")


class StreamBackend(ABC):
    """A durable consumer of `subjects.requests` and a publisher of its answers."""

    def __init__(self, subjects: Subjects, *, max_deliveries: int = 5) -> None:
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1. Got {max_deliveries}.")
        self.subjects = subjects
        self.max_deliveries = max_deliveries

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create the stream and consumer if they do not exist."""

    @abstractmethod
    async def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to `max_messages` messages, waiting at most `timeout` seconds for the first."""

    @abstractmethod
    async def ack(self, message: Message) -> None:
        """Done with `message`: never deliver it again."""

    @abstractmethod
    async def retry(self, message: Message, delay: float) -> None:
        """Deliver `message` again after `delay` seconds."""

    @abstractmethod
    async def publish(self, request_id: str, body: bytes) -> None:
        """Publish an answer; the same `request_id` twice is stored once."""

    @abstractmethod
    async def send_request(self, body: bytes) -> None:
        """Put a request on the requests subject, as a producer would."""

    @abstractmethod
    async def dead_letter(self, message: Message, body: bytes) -> None:
        """Set a message that cannot be answered aside, with `body` saying why."""

    @abstractmethod
    async def close(self) -> None: ...


def open_backend(
    url: str, prefix: str, model: str, *, max_deliveries: int = 5, group: str | None = None
) -> StreamBackend:
    """The backend for `url`: ``nats://`` (JetStream) or ``redis://`` (Redis Streams)."""
    subjects = Subjects.for_model(prefix, model)
    consumer = group or f"prodml-{model}"
    if url.startswith(("nats://", "tls://")):
        from prodml.serve.stream.nats import NatsBackend

        return NatsBackend(url, subjects, durable=consumer, max_deliveries=max_deliveries)
    if url.startswith(("redis://", "rediss://")):
        from prodml.serve.stream.redis import RedisBackend

        return RedisBackend(url, subjects, group=consumer, max_deliveries=max_deliveries)
    raise ConfigError(
        f"streaming.url {url!r}: use nats://host:4222 (NATS JetStream; pip install "
        "'prodml[nats]') or redis://host:6379/0 (Redis Streams; pip install 'prodml[redis]')."
    )
