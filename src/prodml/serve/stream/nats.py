"""NATS JetStream: a durable pull consumer with explicit acks and a delivery limit; answers
published with ``Nats-Msg-Id`` set to the request id, so the stream's duplicate window
stores a redelivered request's answer once."""

from __future__ import annotations

import re
from typing import Any

from prodml.errors import ConfigError
from prodml.serve.stream.base import Message, StreamBackend, Subjects


class NatsBackend(StreamBackend):
    def __init__(
        self,
        url: str,
        subjects: Subjects,
        *,
        durable: str,
        max_deliveries: int = 5,
        ack_wait: float = 30.0,
    ) -> None:
        super().__init__(subjects, max_deliveries=max_deliveries)
        self.url = url
        self.durable = re.sub(r"[^A-Za-z0-9_-]", "_", durable)
        prefix = subjects.requests.rsplit(".", 1)[0]
        self.stream = re.sub(r"[^A-Za-z0-9_-]", "_", prefix).upper()
        self.ack_wait = ack_wait
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None

    async def open(self) -> None:
        self._nc, self._js = await connect_jetstream(self.url)
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        try:
            # A stream an operator made for these subjects is used as it is.
            self.stream = await self._js.find_stream_name_by_subject(self.subjects.requests)
        except NotFoundError:
            subjects = [self.subjects.requests, self.subjects.predictions, self.subjects.dead]
            try:
                await self._js.add_stream(name=self.stream, subjects=subjects)
            except Exception as exc:
                await self.close()
                raise ConfigError(
                    f"Cannot create JetStream stream {self.stream} for {', '.join(subjects)}: "
                    f"{exc}. Create a stream holding these subjects, or change "
                    "streaming.prefix."
                ) from exc
        self._sub = await self._js.pull_subscribe(
            self.subjects.requests,
            durable=self.durable,
            stream=self.stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                max_deliver=self.max_deliveries,
                ack_wait=self.ack_wait,
            ),
        )

    async def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            found = await self._sub.fetch(max_messages, timeout=timeout)
        except (NatsTimeout, TimeoutError):  # nats-py raises either when nothing came
            return []
        return [
            Message(
                m.data,
                f"{self.stream}:{m.metadata.sequence.stream}",
                m.metadata.num_delivered,
                m,
            )
            for m in found
        ]

    async def ack(self, message: Message) -> None:
        await message.handle.ack()

    async def retry(self, message: Message, delay: float) -> None:
        await message.handle.nak(delay=delay)

    async def publish(self, request_id: str, body: bytes) -> None:
        await self._js.publish(self.subjects.predictions, body, headers={"Nats-Msg-Id": request_id})

    async def send_request(self, body: bytes) -> None:
        await self._js.publish(self.subjects.requests, body)

    async def dead_letter(self, message: Message, body: bytes) -> None:
        await self._js.publish(self.subjects.dead, body, headers={"Nats-Msg-Id": message.id})

    async def close(self) -> None:
        if self._nc is not None:
            # Acks are fire-and-forget: flush them out before closing. (A drain would also
            # wait on the pull subscription's open request, up to its 30 s timeout.)
            await self._nc.flush()
            await self._nc.close()
            self._nc = None


async def connect_jetstream(url: str) -> tuple[Any, Any]:
    """A connection to the NATS server at `url` and its JetStream context, with errors
    that say what to install or what could not be reached."""
    try:
        import nats
    except ImportError as exc:
        raise ConfigError("Talking to NATS needs nats-py: pip install 'prodml[nats]'.") from exc
    try:
        client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
    except Exception as exc:
        raise ConfigError(f"Cannot reach NATS at {url}: {exc}.") from exc
    return client, client.jetstream()
