"""An open-loop load generator: requests are sent on a fixed schedule whether or not
earlier ones were answered, and each latency counts from its scheduled time, so a slow
server cannot hide its queueing (no coordinated omission).

The first `WARMUP` seconds run at the same rate but are not counted: opening the pool's
connections and the first requests on each cost every server a start-up burst that says
nothing about its steady state.

`python _openloop.py PORT PATH BODY_FILE RATE SECONDS` prints JSON: sent, answered, errors,
p50_ms, p99_ms (of the SECONDS after the warm-up).
"""

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np

CONNECTIONS = 64
WARMUP = 1.0


async def main(port: int, path: str, body: bytes, rate: float, seconds: float) -> dict:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    # A bounded pool: a request waits for a free connection, its latency still counted from
    # its scheduled time.
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        reader, writer = conn
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            if scheduled >= counted_from:
                latencies.append(time.perf_counter() - scheduled)
            pool.put_nowait(conn)
        except Exception:
            errors += 1
            writer.close()
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    start = time.perf_counter() + 0.2
    counted_from = start + WARMUP
    total = int(rate * (WARMUP + seconds))
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    ms = np.asarray(latencies) * 1000
    return {
        "sent": int(rate * seconds),
        "answered": len(latencies),
        "errors": errors,
        "achieved_rate": len(latencies) / (time.perf_counter() - counted_from),
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
    }


if __name__ == "__main__":
    gc.disable()  # a full collection over the run's tasks would stall the schedule itself
    port, path, body_file, rate, seconds = sys.argv[1:6]
    body = Path(body_file).read_bytes()
    print(json.dumps(asyncio.run(main(int(port), path, body, float(rate), float(seconds)))))
