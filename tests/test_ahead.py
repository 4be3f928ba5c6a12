"""Running items ahead in threads (conformance/ahead.py) and the follow-up cache they share."""

from __future__ import annotations

import threading
import time

import pytest

from conformance.ahead import RunAhead
from conformance.checks import CheckContext, FollowupCache
from conformance.settings import Limits, resolve_limits
from conformance.profiles import load_profile
from conformance.transport import ApiRequest, Counter, Exchange


class Gauge:
    """A job that takes a while and counts how many run at once."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.started: list[int] = []

    def __call__(self, job: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.started.append(job)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        if job < 0:
            raise ValueError(f"job {job} broke")
        return job * 10


def upcoming(after: int, last: int):
    return ((i, i) for i in range(after + 1, last + 1))


def test_items_run_ahead_up_to_the_threads_and_each_takes_its_own_result():
    gauge = Gauge()
    ahead = RunAhead(4, gauge)
    try:
        results = [ahead.result(i, i, upcoming(i, 11)) for i in range(12)]
    finally:
        ahead.close()
    assert results == [i * 10 for i in range(12)]
    assert gauge.peak == 4
    assert sorted(gauge.started) == list(range(12))  # each job once
    assert ahead.pending == 0


def test_one_thread_runs_nothing_ahead():
    gauge = Gauge(0.0)
    ahead = RunAhead(1, gauge)
    assert ahead.result(0, 0, upcoming(0, 5)) == 0
    assert gauge.started == [0]  # the upcoming ones wait for their turn
    ahead.close()


def test_a_jobs_exception_reaches_its_own_item_only():
    ahead = RunAhead(3, Gauge(0.01))
    try:
        assert ahead.result(0, 0, [(1, -1), (2, 2)]) == 0
        with pytest.raises(ValueError, match="job -1 broke"):
            ahead.result(1, -1)
        assert ahead.result(2, 2) == 20
    finally:
        ahead.close()


def test_closing_drops_what_no_item_asked_for():
    gauge = Gauge(0.05)
    ahead = RunAhead(2, gauge)
    ahead.result(0, 0, upcoming(0, 50))
    ahead.close()  # the run stopped: the job started ahead finishes, the others are never started
    assert len(gauge.started) <= 3


class Slow:
    """A transport that takes a while to answer and counts what it was sent."""

    name = "http"

    def __init__(self) -> None:
        self.sent = 0
        self.lock = threading.Lock()

    def send(self, request: ApiRequest) -> Exchange:
        with self.lock:
            self.sent += 1
        time.sleep(0.05)
        return Exchange(request=request, transport=self.name, url="http://127.0.0.1/v1" + request.path, status=200, headers={}, raw=b"{}", json={})


def test_cases_running_at_once_send_a_cached_follow_up_once():
    transport, cache = Slow(), FollowupCache()
    answers: list[Exchange] = []

    def case() -> None:
        ctx = CheckContext(settings=None, transport=transport, counter=Counter(), cache=cache)
        answers.append(ctx.send(ApiRequest("GET", "/models"), cache_key="models.list"))

    threads = [threading.Thread(target=case) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert transport.sent == 1
    assert len(answers) == 6 and all(a is answers[0] for a in answers)


def test_requests_in_flight_follow_the_concurrency_allowed():
    scaleway = load_profile("scaleway")
    remote = resolve_limits(scaleway, False, None, None, None)
    assert remote.concurrency == 50 and remote.in_flight == 50
    assert resolve_limits(scaleway, False, None, 0, None).in_flight == 4  # no limit: DEFAULT_IN_FLIGHT
    assert resolve_limits(scaleway, False, None, 500, None).in_flight == 64  # a thread each: at most MAX_IN_FLIGHT
    # a server on this machine shares the run's CPU: one at a time per process, unless told otherwise
    assert resolve_limits(scaleway, False, None, None, None, local=True).in_flight == 1
    assert resolve_limits(scaleway, True, None, None, None, local=True).in_flight == 1
    assert resolve_limits(scaleway, False, None, 8, None, local=True).in_flight == 8
    assert Limits().in_flight == 1
