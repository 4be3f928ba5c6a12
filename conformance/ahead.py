"""Runs a process's upcoming items ahead in threads, so that requests in flight follow the allowed
concurrency rather than the number of processes; each item then takes its own result, in order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class RunAhead:
    """Computes ``compute(job)`` for the current item and up to ``threads - 1`` upcoming ones at
    once. With one thread nothing runs ahead: each job is computed when its item asks for it.

    A job computed ahead whose item never asks (the run stopped) is dropped when the pool closes;
    jobs not started by then are cancelled."""

    def __init__(self, threads: int, compute: Callable[[Any], Any]) -> None:
        self.threads = max(1, threads)
        self.compute = compute
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="conformance-ahead") if self.threads > 1 else None
        self._futures: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def result(self, key: Hashable, job: Any, upcoming: Iterable[tuple[Hashable, Any]] = ()) -> Any:
        """The result of ``job`` (the item ``key``), once the next items of ``upcoming`` (those
        after it, in the order they will ask) are under way; exceptions are the job's own."""
        if self._pool is None:
            return self.compute(job)
        with self._lock:
            self._submit(key, job)
            ahead = 0
            for other, other_job in upcoming:
                if ahead >= self.threads - 1:
                    break
                self._submit(other, other_job)
                ahead += 1
            future = self._futures.pop(key)
        return future.result()

    def _submit(self, key: Hashable, job: Any) -> None:
        if key not in self._futures:
            self._futures[key] = self._pool.submit(self.compute, job)

    @property
    def pending(self) -> int:
        """Jobs submitted whose item has not asked for them yet."""
        return len(self._futures)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._futures.clear()
