"""bot.tasks.cancel_and_wait: shutdown must not hang on a loop that lost its cancel."""

from __future__ import annotations

import asyncio

from bot.tasks import cancel_and_wait


async def _loop_that_swallows_the_first_cancel(state: dict) -> None:
    """What a periodic loop does on Python 3.11 when a cancel comes out of redis-py's
    timeout as TimeoutError and `except Exception` carries on."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            state["cancels"] += 1
            if state["cancels"] > 1:
                raise


async def test_regression_teardown_hung_on_a_sync_loop_that_lost_its_cancel():
    state = {"cancels": 0}
    task = asyncio.create_task(_loop_that_swallows_the_first_cancel(state))
    await asyncio.sleep(0.02)
    still_running = await cancel_and_wait([task], every=0.02, give_up_after=5)
    assert still_running == set()
    assert task.cancelled()
    assert state["cancels"] == 2


async def test_a_task_that_does_not_stop_is_given_up_on_and_reported():
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    still_running = await cancel_and_wait([task], every=0.02, give_up_after=0.2)
    assert still_running == {task}
    assert not task.done()
    release.set()  # let it end, so the test's loop can close
    await task


async def test_finished_tasks_are_left_alone():
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    assert await cancel_and_wait([task]) == set()
    assert not task.cancelled()
