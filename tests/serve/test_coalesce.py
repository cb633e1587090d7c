"""Concurrent lookups share one call; each caller still gets only its own answer, or the
error that call raised."""

import asyncio
import threading

from prodml.serve.coalesce import Coalescer


def test_concurrent_callers_share_one_call_and_each_gets_its_own_results():
    calls: list[list[int]] = []
    threads: list[str] = []

    def many(items: list[int]) -> list[int]:
        calls.append(items)
        threads.append(threading.current_thread().name)
        return [i * 10 for i in items]

    coalescer = Coalescer(many, name="test-lookup")

    async def run() -> list[list[int]]:
        return await asyncio.gather(coalescer([1]), coalescer([2, 3]), coalescer([4]))

    assert asyncio.run(run()) == [[10], [20, 30], [40]]
    assert calls == [[1, 2, 3, 4]]
    assert threads[0].startswith("test-lookup")  # several callers: off the event loop
    assert (coalescer.calls, coalescer.callers) == (1, 3)


def test_a_lone_caller_is_looked_up_at_once_on_the_loop():
    seen: list[str] = []

    def many(items: list[int]) -> list[int]:
        seen.append(threading.current_thread().name)
        return items

    coalescer = Coalescer(many, name="test-lookup")

    async def run() -> list[int]:
        return await coalescer([7])

    assert asyncio.run(run()) == [7]
    assert seen == [threading.main_thread().name]


def test_callers_arriving_during_a_call_go_together_into_the_next():
    release = threading.Event()
    calls: list[list[int]] = []

    def many(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            release.wait(5)
        return items

    coalescer = Coalescer(many, name="test-lookup")

    async def run() -> list[list[int]]:
        first = asyncio.gather(coalescer([1]), coalescer([2]))
        await asyncio.sleep(0.05)  # the first call is now in flight on the thread
        later = asyncio.gather(coalescer([3]), coalescer([4]), coalescer([5]))
        await asyncio.sleep(0.05)
        release.set()
        return [*await first, *await later]

    assert asyncio.run(run()) == [[1], [2], [3], [4], [5]]
    assert calls == [[1, 2], [3, 4, 5]]


def test_an_error_reaches_every_caller_of_that_call_and_the_next_call_works():
    failing = {"on": True}

    def many(items: list[int]) -> list[int]:
        if failing["on"]:
            raise ConnectionError("store down")
        return items

    coalescer = Coalescer(many, name="test-lookup")

    async def run() -> list[object]:
        return await asyncio.gather(coalescer([1]), coalescer([2]), return_exceptions=True)

    outcomes = asyncio.run(run())
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    failing["on"] = False
    assert asyncio.run(run()) == [[1], [2]]
