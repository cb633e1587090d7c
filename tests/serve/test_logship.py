"""Shipping the prediction log to the real NATS JetStream: everything, in order, once."""

import asyncio
import uuid

import orjson
import pyarrow as pa
import pytest

from prodml.predlog import PredictionLog
from prodml.serve.logship import JetStreamSink, LogShipper, read_cursor


@pytest.fixture
def subject(nats_url):
    name = f"shiptest{uuid.uuid4().hex[:8]}"
    yield f"{name}.toy.log"

    async def drop() -> None:
        import nats

        client = await nats.connect(nats_url)
        js = client.jetstream()
        await js.delete_stream(await js.find_stream_name_by_subject(f"{name}.toy.log"))
        await client.close()

    asyncio.run(drop())


def ship(log: PredictionLog, url: str, subject: str, batch: int = 1000) -> int:
    async def run() -> int:
        sink = JetStreamSink(url, subject)
        await sink.open()
        try:
            return await LogShipper(log, sink, batch=batch).ship()
        finally:
            await sink.close()

    return asyncio.run(run())


def stored(url: str, subject: str) -> list[dict]:
    """Every message the stream holds for `subject`, in stream order."""

    async def run() -> list[dict]:
        import nats

        client = await nats.connect(url)
        js = client.jetstream()
        stream = await js.find_stream_name_by_subject(subject)
        count = (await js.stream_info(stream)).state.messages
        found = [orjson.loads((await js.get_msg(stream, seq)).data) for seq in range(1, count + 1)]
        await client.close()
        return found

    return asyncio.run(run())


def records(start: int, n: int) -> list[dict]:
    return [{"request_id": f"r{i}", "probability": i / 1000} for i in range(start, start + n)]


def test_every_record_of_every_kind_of_segment_is_shipped_in_order(nats_url, subject, tmp_path):
    with PredictionLog(tmp_path / "toy", segment_bytes=2_000) as log:
        log.append(records(0, 40))  # several JSON-lines segments, compacted as they fill
        log.append_table(pa.table({"request_id": ["b0", "b1", "b2"], "probability": [0.1] * 3}))
        log.append(records(40, 5))  # the live segment
        with log.writer("worker-2") as other:
            other.append(records(100, 3))
        log.compact()
        expected = log.read()["request_id"].tolist()
        assert ship(log, nats_url, subject, batch=7) == 51
    got = [r["request_id"] for r in stored(nats_url, subject)]
    assert got == expected  # the main writer's records, then each worker's, each in order


def test_a_second_run_ships_only_what_came_since(nats_url, subject, tmp_path):
    with PredictionLog(tmp_path / "toy", segment_bytes=1_500) as log:
        log.append(records(0, 10))
        assert ship(log, nats_url, subject) == 10
        log.append(records(10, 30))  # the live segment grows, fills and rotates
        log.compact()  # the half-shipped segment is now Parquet: the cursor still holds
        assert ship(log, nats_url, subject) == 30
        assert ship(log, nats_url, subject) == 0
    got = [r["request_id"] for r in stored(nats_url, subject)]
    assert got == [f"r{i}" for i in range(40)]


def test_records_shipped_again_after_a_crash_are_stored_once(nats_url, subject, tmp_path):
    with PredictionLog(tmp_path / "toy") as log:
        log.append(records(0, 20))
        ship(log, nats_url, subject)
        assert read_cursor(log.folder).record == 20
        # A crash after JetStream's acknowledgement, before the cursor was saved.
        (log.folder / ".shipped").unlink()
        assert ship(log, nats_url, subject) == 20
    assert len(stored(nats_url, subject)) == 20


def test_an_unreachable_server_is_named(tmp_path):
    from prodml.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Cannot reach NATS at nats://127\.0\.0\.1:1"):
        asyncio.run(JetStreamSink("nats://127.0.0.1:1", "x.toy.log").open())
