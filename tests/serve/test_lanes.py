"""A lane runs an arm's jobs off the event loop: results and errors come back to the
awaiting coroutine, `pending` counts what is queued, and a job whose loop has gone does
not stop the lane."""

import asyncio
import threading

import pytest

from prodml.serve.lanes import Lane


def test_results_and_errors_come_back_and_pending_drains():
    lane = Lane("test")

    async def main():
        futures = [lane.submit(pow, 2, n) for n in range(50)]
        failing = lane.submit(int, "not a number")
        assert lane.pending > 0
        assert await asyncio.gather(*futures) == [2**n for n in range(50)]
        with pytest.raises(ValueError, match="invalid literal"):
            await failing
        await asyncio.sleep(0)
        assert lane.pending == 0

    asyncio.run(main())


def test_a_job_whose_loop_closed_does_not_stop_the_lane():
    lane, release = Lane("test"), threading.Event()

    async def leave_one_behind():
        lane.submit(release.wait, 10)  # still running when this loop closes

    asyncio.run(leave_one_behind())
    release.set()

    async def next_job():
        return await asyncio.wait_for(lane.submit(sum, [1, 2, 3]), 5)

    assert asyncio.run(next_job()) == 6


def test_a_job_run_for_its_effect_is_done_in_order_and_its_failure_only_logged(caplog):
    lane, seen, done = Lane("test"), [], threading.Event()
    lane.run(seen.append, 1)
    lane.run(int, "not a number")
    lane.run(seen.append, 2)
    lane.run(done.set)
    assert done.wait(5)
    assert seen == [1, 2]
    assert lane.pending == 0
    assert "A job on lane test failed" in caplog.text
