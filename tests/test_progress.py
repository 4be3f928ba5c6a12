"""Progress per endpoint: a line when an endpoint's items are all done, the endpoints still running every so often."""

from __future__ import annotations

from conformance.report.progress import Progress, param_id


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(every: float = 30.0):
    lines: list[str] = []
    clock = Clock()
    progress = Progress(lines.append, clock=clock, every=every)
    nodeids = [f"suite/test_conformance.py::test_case[{pid}]" for pid in ("chat.basic-http", "chat.basic-openai", "auth.missing-http", "property.chat.positive-http")]
    endpoints = {"chat.basic-http": "chat", "chat.basic-openai": "chat", "auth.missing-http": "models", "property.chat.positive-http": "chat", "chat.deselected-http": "chat"}
    progress.collected(nodeids, endpoints)
    return progress, lines, clock, nodeids


def test_param_id_is_the_bracketed_id():
    assert param_id("a/test_x.py::test_case[chat.basic-http]") == "chat.basic-http"
    assert param_id("a/test_x.py::test_other") is None


def test_an_endpoint_is_announced_once_when_its_collected_items_are_all_done():
    progress, lines, clock, nodeids = _progress()
    assert progress.total == {"chat": 3, "models": 1}  # a deselected item is not waited for
    progress.item_done(nodeids[0], [{"status": "pass"}, {"status": "fail"}], 2)
    progress.item_done(nodeids[0], [{"status": "pass"}], 5)  # the same item again (e.g. its teardown): not counted
    assert lines == []
    clock.now += 5
    progress.item_done(nodeids[2], [{"status": "skip"}], 0)  # an endpoint whose checks all skip still ends
    assert lines == ["models done: 1 verdict (1 skip) · 0 requests · 1 items · at 5 s"]
    progress.item_done(nodeids[1], [{"status": "pass"}], 3)
    clock.now += 70
    progress.item_done(nodeids[3], [], 1)  # an item with no verdict (its setup failed)
    assert lines[1] == "chat done: 3 verdicts (1 fail, 2 pass) · 6 requests · 3 items · at 1 min 15 s"


def test_the_endpoints_still_running_are_listed_after_a_quiet_while():
    progress, lines, clock, nodeids = _progress(every=30)
    clock.now += 10
    progress.item_done(nodeids[0], [{"status": "pass"}], 1)
    assert lines == []
    clock.now += 25
    progress.item_done(nodeids[1], [{"status": "pass"}], 1)
    assert lines == ["… 35 s: still running models 0/1, chat 2/3"]
    clock.now += 10
    progress.item_done(nodeids[3], [{"status": "pass"}], 1)  # chat completes: its own line
    assert lines[-1].startswith("chat done: ")


def test_items_outside_the_plan_and_a_second_collection_change_nothing():
    progress, lines, clock, nodeids = _progress()
    progress.collected(["x::test_case[chat.basic-http]"], {"chat.basic-http": "chat"})  # another xdist worker's
    assert progress.total == {"chat": 3, "models": 1}
    progress.item_done("tests/test_unrelated.py::test_thing", [{"status": "pass"}], 1)
    assert lines == [] and sum(progress.done.values()) == 0
