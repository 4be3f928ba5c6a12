"""CheckContext follow-ups: infrastructure trouble is never a fail; refusals are; answers are sent once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conformance.checks import CheckContext, Failure
from conformance.transport import ApiRequest, Counter, Exchange, Unjudgeable


class ScriptedTransport:
    """Answers every request with the next scripted status; records what it was sent."""

    name = "http"

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.sent: list[ApiRequest] = []

    def send(self, request: ApiRequest) -> Exchange:
        self.sent.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        body = b'{"ok": true}' if status < 400 else b'{"error": {"message": "no thanks", "type": "invalid_request_error", "param": null, "code": null}}'
        return Exchange(request, self.name, "http://t/v1" + request.path, status, {"content-type": "application/json"}, body, json=json.loads(body))

    def close(self) -> None:
        pass


def context(transport: ScriptedTransport) -> CheckContext:
    return CheckContext(settings=SimpleNamespace(), transport=transport, counter=Counter())


def test_a_follow_up_that_keeps_failing_with_5xx_or_429_is_unjudgeable(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)
    for status in (503, 500, 429):
        with pytest.raises(Unjudgeable, match=str(status)):
            context(ScriptedTransport(status)).followup(ApiRequest("POST", "/chat/completions", body={"a": 1}), "the replay")


def test_a_refused_follow_up_is_a_failure_naming_the_error():
    with pytest.raises(Failure, match=r"the replay was refused with 400: 'no thanks'"):
        context(ScriptedTransport(400)).followup(ApiRequest("POST", "/chat/completions", body={"a": 1}), "the replay")


def test_an_identical_follow_up_is_sent_once_and_a_different_one_again():
    transport = ScriptedTransport(200)
    ctx = context(transport)
    first = ctx.followup(ApiRequest("POST", "/embeddings", body={"input": "x"}))
    again = ctx.followup(ApiRequest("POST", "/embeddings", body={"input": "x"}))
    other = ctx.followup(ApiRequest("POST", "/embeddings", body={"input": "y"}))
    assert first is again and other is not first
    assert len(transport.sent) == 2
    assert ctx.counter.requests == 2


def test_a_follow_up_that_breaks_the_server_while_the_control_is_answered_is_a_failure(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)
    ctx = context(ScriptedTransport(500))
    answered = Exchange(ApiRequest("POST", "/chat/completions"), "http", "http://t/v1/chat/completions", 200, {}, b"{}")
    ctx.control = lambda: answered
    with pytest.raises(Failure, match="the server breaks on the replay"):
        ctx.followup(ApiRequest("POST", "/chat/completions", body={"a": 1}), "the replay")
    ctx = context(ScriptedTransport(500))
    ctx.control = lambda: None  # the control could not be answered either: the server is down
    with pytest.raises(Unjudgeable):
        ctx.followup(ApiRequest("POST", "/chat/completions", body={"a": 1}), "the replay")
    ctx = context(ScriptedTransport(503))
    ctx.control = lambda: answered  # gateway trouble is never judged
    with pytest.raises(Unjudgeable):
        ctx.followup(ApiRequest("POST", "/chat/completions", body={"a": 1}), "the replay")


def test_a_cached_send_answered_5xx_is_asked_again_by_the_next_case(monkeypatch):
    """A 5xx (after its retry) is this moment's trouble, not the answer every later case shares."""
    monkeypatch.setattr("time.sleep", lambda _: None)
    transport = ScriptedTransport(500, 500, 200)
    cache: dict = {}
    first = CheckContext(settings=SimpleNamespace(), transport=transport, counter=Counter(), cache=cache)
    assert first.send(ApiRequest("GET", "/models"), cache_key="models").status == 500
    second = CheckContext(settings=SimpleNamespace(), transport=transport, counter=Counter(), cache=cache)
    assert second.send(ApiRequest("GET", "/models"), cache_key="models").status == 200
    assert second.send(ApiRequest("GET", "/models"), cache_key="models").status == 200
    assert len(transport.sent) == 3  # the answered one is kept
