"""Streaming inference: request messages in, predictions out, through the same predictor
code as HTTP. One interface (`base.StreamBackend`), one module per broker: NATS JetStream
(`nats.py`) and Redis Streams (`redis.py`); `worker.StreamWorker` runs either."""

from prodml.serve.stream.base import Message, StreamBackend, Subjects, open_backend
from prodml.serve.stream.worker import StreamStats, StreamWorker

__all__ = [
    "Message",
    "StreamBackend",
    "StreamStats",
    "StreamWorker",
    "Subjects",
    "open_backend",
]
