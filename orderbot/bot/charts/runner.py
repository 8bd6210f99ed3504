"""Charts are CPU work (50–250 ms): they run in an executor, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


async def render_async(fn: Callable[..., T], /, *args: Any, executor: Executor | None = None, **kwargs: Any) -> T:
    """Run a chart function in `executor` (the loop's default pool when None) and await its PNG bytes.

    Chart functions build their own `Figure` (no pyplot state), so several may run at once in threads.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))


def chart_executor(max_workers: int = 2) -> ThreadPoolExecutor:
    """A small pool of its own, so a burst of charts cannot starve the loop's default pool (DNS, files).

    The composition root owns it and calls `shutdown()` on cleanup.
    """
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="charts")
