"""CPU-bound work off the event loop: a fixed pool of inference threads and a bound on waiting work.

onnxruntime, OpenCV and Pillow's decoders release the GIL, so threads run in parallel. At most
``threads`` jobs run; at most ``max_pending`` more wait; beyond that a job is refused (503 overloaded)
instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from service.errors import Overloaded

T = TypeVar("T")


class InferenceRunner:
    def __init__(self, threads: int, max_pending: int) -> None:
        self.threads = threads
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inference")
        self._slots = asyncio.Semaphore(threads)
        self._waiting = 0

    @property
    def busy(self) -> int:
        return self.threads - self._slots._value

    @property
    def waiting(self) -> int:
        return self._waiting

    async def run(self, fn: Callable[..., T], *args: object, may_refuse: bool = True) -> T:
        """Run ``fn(*args)`` on an inference thread. ``may_refuse=False`` always waits: a stream has at
        most one frame in flight per connection, so its waiting is bounded by the connection limit."""
        if self._slots.locked():
            if may_refuse and self._waiting >= self.max_pending:
                raise Overloaded("The service is at capacity; retry shortly.")
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args))
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
