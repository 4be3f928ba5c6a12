"""Progress per endpoint while a run goes on: a line when an endpoint's items are all done, and the endpoints still running every so often."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from ..vocabulary import ENDPOINTS, STATUSES

#: Seconds without a line after which the endpoints still running are listed.
EVERY = 30.0


def param_id(nodeid: str) -> str | None:
    """The parametrize id of a test item's node id (``…::test_case[chat.basic-http]`` → ``chat.basic-http``)."""
    start = nodeid.find("[")
    return nodeid[start + 1 : -1] if start >= 0 and nodeid.endswith("]") else None


def _seconds(value: float) -> str:
    value = int(round(value))
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


class Progress:
    """Counts the items done per endpoint (the controller's view: every worker's reports reach it)."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic, every: float = EVERY) -> None:
        self.write = write
        self.clock = clock
        self.every = every
        self.started = clock()
        self.last_line = self.started
        #: param id -> endpoint, for the items this run will run (known at the end of collection)
        self.endpoint_of: dict[str, str] = {}
        self.total: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.statuses: dict[str, Counter[str]] = {}
        self.seen: set[str] = set()

    def collected(self, nodeids: list[str], endpoints: dict[str, str]) -> None:
        """The items to run (after deselection), with the endpoint of each param id."""
        if self.endpoint_of:
            return  # every xdist worker collects the same items
        for nodeid in nodeids:
            endpoint = endpoints.get(param_id(nodeid) or "")
            if endpoint is not None:
                self.endpoint_of[nodeid] = endpoint
        self.total = Counter(self.endpoint_of.values())

    def item_done(self, nodeid: str, verdicts: list[dict[str, Any]], requests: int) -> None:
        """One item's report reached the controller: count it, and say so when its endpoint is complete."""
        endpoint = self.endpoint_of.get(nodeid)
        if endpoint is None or nodeid in self.seen:
            return
        self.seen.add(nodeid)
        self.done[endpoint] += 1
        self.requests[endpoint] += requests
        self.statuses.setdefault(endpoint, Counter()).update(v["status"] for v in verdicts)
        now = self.clock()
        if self.done[endpoint] == self.total[endpoint]:
            self.write(self.endpoint_line(endpoint, now))
            self.last_line = now
        elif now - self.last_line >= self.every:
            self.write(self.running_line(now))
            self.last_line = now

    def endpoint_line(self, endpoint: str, now: float) -> str:
        counts = self.statuses.get(endpoint, Counter())
        verdicts = sum(counts.values())
        by_status = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        return (
            f"{endpoint} done: {verdicts} verdict{'s' if verdicts != 1 else ''}" + (f" ({by_status})" if by_status else "")
            + f" · {self.requests[endpoint]} requests · {self.total[endpoint]} items · at {_seconds(now - self.started)}"
        )

    def running_line(self, now: float) -> str:
        running = [f"{e} {self.done[e]}/{n}" for e, n in self._ordered() if self.done[e] < n]
        return f"… {_seconds(now - self.started)}: still running " + ", ".join(running)

    def _ordered(self):
        order = list(ENDPOINTS)
        return sorted(self.total.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]))
