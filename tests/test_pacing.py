"""The one status policy, the run's shared budget (rate, concurrency, tokens) and its health."""

from __future__ import annotations

import multiprocessing
import threading
import time
from email.utils import formatdate

import httpx
import pytest

from conformance.server import ServerThread, create_app
from conformance.server.chaos import Chaos
from conformance.settings import Limits
from conformance.transport import ApiRequest, Counter, Exchange, Pacer, RunState, TargetDown, Unjudgeable, policy, send_with_retry
from conformance.transport.pacing import DOWN_AFTER_FAILURES, DOWN_AFTER_S, DOWN_POLL_S, RATE_MARGIN, Health, PacedTransport, estimate_tokens

KEY = "sk-pacing-test"


def answer(status: int, headers: dict[str, str] | None = None) -> Exchange:
    return Exchange(request=ApiRequest("GET", "/models"), transport="http", url="u", status=status, headers=headers or {}, raw=b"{}", json={})


class Scripted:
    """A transport answering from a script: statuses, or exceptions to raise."""

    name = "http"

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.sent = 0

    def send(self, request):
        self.sent += 1
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self):
        pass


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda s: slept.append(s))
    return slept


# -- the status policy ----------------------------------------------------------------------------
@pytest.mark.parametrize("status, kind", [(200, "judge"), (404, "judge"), (429, "unjudgeable"), (502, "unjudgeable"), (503, "unjudgeable"), (504, "unjudgeable"), (500, "server-error"), (501, "server-error"), (507, "server-error"), (524, "unjudgeable"), (408, "unjudgeable")])
def test_every_status_has_one_disposition(status, kind):
    assert policy.disposition(status) == kind


def test_retry_after_is_read_as_seconds_or_an_http_date():
    assert policy.retry_after({"retry-after": "7"}) == 7
    assert policy.retry_after({"retry-after": "1.5"}) == 1.5
    now = time.time()
    assert 28 <= policy.retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) <= 31
    assert policy.retry_after({"retry-after": formatdate(now - 30, usegmt=True)}, now=now) == 0
    assert policy.retry_after({"retry-after": "soon"}) is None and policy.retry_after({}) is None
    for ignored in ("-5", "nan", "inf", "1_0"):  # not delay-seconds: ignored
        assert policy.retry_after({"retry-after": ignored}) is None
    assert 28 <= policy.retry_after({"retry-after": formatdate(now + 30)[:-5] + "-0000"}, now=now) <= 31


def test_a_429_waits_as_long_as_retry_after_asks_and_is_counted(no_sleep):
    transport = Scripted(answer(429, {"retry-after": "12"}), answer(200))
    counter = Counter()
    ex = send_with_retry(transport, ApiRequest("GET", "/models"), counter)
    assert ex.status == 200 and ex.attempts == 2 and no_sleep == [12]
    assert counter.rate_limited == 1 and counter.retries == 1 and counter.requests == 2 and counter.retry_wait_s == 12


def test_a_retry_after_beyond_the_bound_is_not_waited_for(no_sleep):
    transport = Scripted(answer(429, {"retry-after": str(int(policy.RETRY_AFTER_MAX_S) + 1)}))
    ex = send_with_retry(transport, ApiRequest("GET", "/models"), Counter())
    assert ex.status == 429 and no_sleep == [] and "beyond" in ex.retry_note
    assert "beyond" in policy.unjudgeable_message(ex.status, ex.attempts, ex.retry_note)


def test_waits_stop_at_the_budget(no_sleep):
    asked = str(int(policy.RETRY_AFTER_MAX_S))
    transport = Scripted(*[answer(503, {"retry-after": asked})] * 5)
    ex = send_with_retry(transport, ApiRequest("GET", "/models"), Counter(), retries=4)
    assert sum(no_sleep) <= policy.WAIT_BUDGET_S and "budget" in ex.retry_note and ex.status == 503


def test_a_500_is_retried_once_at_once_and_gateway_trouble_with_back_off(no_sleep):
    assert send_with_retry(Scripted(answer(500), answer(500)), ApiRequest("GET", "/x")).attempts == 2
    assert no_sleep == [0.0] or no_sleep == []
    no_sleep.clear()
    assert send_with_retry(Scripted(answer(502), answer(502), answer(502)), ApiRequest("GET", "/x"), retries=2).attempts == 3
    assert no_sleep == [policy.BACKOFF_S, policy.BACKOFF_S * policy.BACKOFF_GROWTH]


def test_a_reproducible_500_fails_only_while_the_control_is_answered():
    request = ApiRequest("GET", "/x")
    ok = answer(200)
    failing = answer(500)
    failing.attempts = 2
    resent = Scripted(answer(500), answer(500))
    judged = policy.judge_server_error(failing, lambda: ok, lambda: resent.send(request))
    assert judged.outcome == "fail" and judged.attempts == 4 and resent.sent == policy.REPRODUCE_ATTEMPTS
    judged = policy.judge_server_error(failing, lambda: answer(500), lambda: pytest.fail("no resend without a control"))
    assert judged.outcome == "error"
    judged = policy.judge_server_error(failing, lambda: ok, lambda: answer(200))
    assert judged.outcome == "recovered" and judged.exchange.status == 200


# -- the shared budget ----------------------------------------------------------------------------
def test_requests_per_minute_leave_evenly_spaced_just_under_the_limit(tmp_path):
    state = RunState(tmp_path)
    interval = 60 / (600 * RATE_MARGIN)
    starts = [state.reserve("rpm_tat", 1, interval) for _ in range(20)]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(abs(gap - interval) < 1e-6 for gap in gaps)
    # so no window of a minute ever holds more than the limit
    assert 60 / interval < 600


def _reserve_many(directory: str, count: int, out) -> None:
    state = RunState(directory)
    for _ in range(count):
        out.put(state.reserve("rpm_tat", 1, 0.01))


def test_processes_share_one_schedule(tmp_path):
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [context.Process(target=_reserve_many, args=(str(tmp_path), 15, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    starts = sorted(out.get(timeout=30) for _ in range(45))
    for worker in workers:
        worker.join(10)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) > 0.0099  # 45 distinct instants, 10 ms apart, whichever process asked


def test_no_more_requests_in_flight_than_the_slots(tmp_path):
    state = RunState(tmp_path)
    in_flight, peak, lock = [0], [0], threading.Lock()

    def one():
        with state.slot(2):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.03)
            with lock:
                in_flight[0] -= 1

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_a_429_pauses_every_sender(tmp_path):
    state = RunState(tmp_path)
    state.pause(5)
    assert state.reserve("rpm_tat", 1, 0.1) >= time.time() + 4.5
    assert RunState(tmp_path).pause_until() >= time.time() + 4.5  # another worker sees it


def test_tokens_are_estimated_from_the_text_and_the_completion_allowed():
    small = ApiRequest("POST", "/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
    assert 5 < estimate_tokens(small) < 40
    assert estimate_tokens(ApiRequest("POST", "/embeddings", body={"model": "m", "input": "word " * 400})) >= 500
    audio = {"type": "input_audio", "input_audio": {"data": "UklGR" + "A" * 200_000, "format": "wav"}}
    with_audio = ApiRequest("POST", "/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": [audio]}], "max_tokens": 5})
    assert estimate_tokens(with_audio) < 200  # billed by its length in seconds, not its base64


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_the_target_is_down_after_consecutive_connection_failures_only(tmp_path, clock):
    health = Health(RunState(tmp_path))
    for _ in range(DOWN_AFTER_FAILURES * 2):
        health.failed("ConnectError")
        clock[0] += 1
        health.answered()  # an answer in between: not down
    assert health.down() is None
    started = clock[0]
    for _ in range(DOWN_AFTER_FAILURES):
        health.failed("ConnectError")
        clock[0] += DOWN_AFTER_S / (DOWN_AFTER_FAILURES - 1)
    down = health.down()
    assert down == {"since": started, "failures": DOWN_AFTER_FAILURES, "reason": "ConnectError"}


def test_failures_within_a_moment_are_not_an_outage(tmp_path, clock):
    health = Health(RunState(tmp_path))
    for _ in range(DOWN_AFTER_FAILURES * 3):
        health.failed("ConnectError")  # all at the same instant: one refused connection retried at once
    assert health.down() is None


def test_a_down_target_stops_sending_at_once(tmp_path, clock):
    refused = Unjudgeable("could not reach: ConnectError", kind="connect")
    inner = Scripted(*[refused] * 10)
    transport = PacedTransport(inner, Pacer(RunState(tmp_path), Limits()))
    request = ApiRequest("GET", "/models")
    for _ in range(DOWN_AFTER_FAILURES - 1):
        with pytest.raises(Unjudgeable) as raised:
            transport.send(request)
        assert not isinstance(raised.value, TargetDown)
        clock[0] += DOWN_AFTER_S / (DOWN_AFTER_FAILURES - 1)
    with pytest.raises(TargetDown, match="stopped answering"):
        transport.send(request)
    sent = inner.sent
    with pytest.raises(TargetDown, match="stopped answering"):
        send_with_retry(transport, request)
    assert inner.sent == sent  # nothing more is sent


def _found_down_elsewhere(directory, after: float) -> None:
    """Another worker (or thread) of the same run finds the target down ``after`` seconds from now."""
    elsewhere = Health(RunState(directory))

    def other_worker() -> None:
        time.sleep(after)
        with elsewhere.state._locked() as state:
            state["down"] = {"since": time.time(), "failures": DOWN_AFTER_FAILURES, "reason": "ConnectError"}

    threading.Thread(target=other_worker).start()


def test_a_retry_waiting_its_back_off_wakes_when_another_worker_finds_the_target_down(tmp_path):
    refused = Unjudgeable("could not reach: ConnectError", kind="connect")
    transport = PacedTransport(Scripted(*[refused] * 3), Pacer(RunState(tmp_path), Limits()))
    _found_down_elsewhere(tmp_path, after=0.3)
    started = time.monotonic()
    with pytest.raises(TargetDown):
        transport.sleep(30)  # a long back-off
    assert time.monotonic() - started < 0.3 + 2 * DOWN_POLL_S


def test_a_request_waiting_its_turn_wakes_when_the_target_goes_down(tmp_path):
    """Many requests wait their turn at once when cases run ahead: at 60 requests a minute the
    third waits about two seconds, but a target found down meanwhile ends its wait at once."""
    pacer = Pacer(RunState(tmp_path), Limits(rpm=60))
    request = ApiRequest("GET", "/models")
    for _ in range(2):
        with pacer.request(request):
            pass
    _found_down_elsewhere(tmp_path, after=0.3)
    started = time.monotonic()
    with pytest.raises(TargetDown):
        with pacer.request(request):
            pass
    assert time.monotonic() - started < 0.3 + 2 * DOWN_POLL_S


def test_a_timeout_or_a_dropped_answer_is_no_sign_of_a_down_target(tmp_path, clock):
    inner = Scripted(*[Unjudgeable("timed out: ReadTimeout")] * 10)
    transport = PacedTransport(inner, Pacer(RunState(tmp_path), Limits()))
    for _ in range(10):
        with pytest.raises(Unjudgeable) as raised:
            transport.send(ApiRequest("GET", "/models"))
        assert not isinstance(raised.value, TargetDown)
        clock[0] += 1


# -- against a server that enforces limits --------------------------------------------------------
def test_a_server_enforcing_limits_counts_what_it_refuses():
    """The limiter the run is measured against does refuse: unpaced, 25 requests meet a 20-per-minute window."""
    app = Chaos(create_app([KEY]), rpm=20)
    with ServerThread(app) as server:
        statuses = [httpx.get(server.base_url + "/models", headers={"Authorization": f"Bearer {KEY}"}).status_code for _ in range(25)]
    assert statuses.count(429) == 5 and app.stats["429 rate"] == 5


def test_a_control_answered_earlier_does_not_make_a_500_reproducible_now():
    """The server starts answering 500 to everything: the control is asked again, not recalled."""
    from conformance.cases import control_case
    from conformance.runner import send_control

    class Case:
        endpoint = "models"

    cache = {"control:models": answer(200)}
    now_failing = Scripted(answer(500), answer(500))
    if control_case("models").capability:
        pytest.skip("the models control needs a model")
    settings = type("S", (), {"fixtures_url": None, "model_for": lambda self, c: None})()
    assert send_control(Case, settings, now_failing, Counter(), cache).status == 200  # recalled
    assert send_control(Case, settings, now_failing, Counter(), cache, fresh=True).status == 500  # asked now


def test_429s_are_no_outage_and_always_hold_the_run(tmp_path, no_sleep):
    state = RunState(tmp_path)
    transport = PacedTransport(Scripted(*[answer(429, {"retry-after": "5"})] * 30), Pacer(state, Limits()))
    for _ in range(policy.TROUBLE_STREAK * 2):
        transport.send(ApiRequest("GET", "/models"))
    assert not transport.in_trouble()
    ex = send_with_retry(transport, ApiRequest("GET", "/models"), Counter(), retries=0)
    assert ex.status == 429 and state.pause_until() >= time.time() + 4  # not retried, yet everyone waits


def test_tokens_per_minute_never_exceed_the_limit_in_a_minute(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    pacer = Pacer(RunState(tmp_path), Limits(tpm=200_000))
    request = ApiRequest("POST", "/embeddings", body={"input": "x " * 1990})  # ~1,000 tokens
    sent, start = 0, clock[0]
    while True:
        with pacer.request(request):
            if clock[0] - start >= 60:
                break
            sent += estimate_tokens(request)
    assert 150_000 < sent <= 200_000


def test_requests_per_minute_never_exceed_the_limit_in_any_minute_even_after_a_lull(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    pacer = Pacer(RunState(tmp_path), Limits(rpm=300))
    sent: list[float] = []
    for index in range(900):
        if index == 200:
            clock[0] += 30  # every worker busy judging: the schedule slipped, a burst catches up
        with pacer.request(ApiRequest("GET", "/models")):
            sent.append(clock[0])
    most = max(sum(1 for t in sent if start <= t < start + 60) for start in sent)
    assert most <= 300


def test_counters_of_threads_add_up():
    from conformance.transport.base import Counter

    total, other = Counter(requests=2, retries=1, extra={"a": 1}), Counter(requests=3, prompt_tokens=5, retry_wait_s=0.5, extra={"a": 2, "b": 1})
    total.merge(other)
    assert (total.requests, total.retries, total.prompt_tokens, total.retry_wait_s, total.extra) == (5, 1, 5, 0.5, {"a": 3, "b": 1})
