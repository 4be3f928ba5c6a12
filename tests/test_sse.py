"""conformance.sse.parse_sse: line endings, data joining, comments, names, termination, bad lines, BOM, [DONE]."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.sse import parse_sse

STREAM = 'data: {"a": 1}\n\ndata: {"a": 2}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(eol):
    parsed = parse_sse(STREAM.replace("\n", eol))
    assert [e.data for e in parsed.events] == ['{"a": 1}', '{"a": 2}', "[DONE]"]
    assert parsed.terminated
    assert parsed.trailing == ""
    assert parsed.bad_lines == []


def test_mixed_line_endings_in_one_stream():
    parsed = parse_sse("data: one\r\n\r\ndata: two\r\rdata: three\n\n")
    assert [e.data for e in parsed.events] == ["one", "two", "three"]
    assert parsed.terminated


def test_bytes_and_str_give_the_same_result():
    assert parse_sse(STREAM.encode()) == parse_sse(STREAM)


def test_multi_line_data_is_joined_with_newline():
    parsed = parse_sse("data: first\ndata: second\ndata:\ndata: fourth\n\n")
    assert len(parsed.events) == 1
    assert parsed.events[0].data == "first\nsecond\n\nfourth"
    assert parsed.events[0].fields == ["data", "data", "data", "data"]


def test_comments_are_ignored():
    parsed = parse_sse(": keep-alive\ndata: x\n: in the middle\ndata: y\n\n:\n\n")
    assert [e.data for e in parsed.events] == ["x\ny"]
    assert parsed.bad_lines == []
    assert parsed.terminated


def test_comment_only_stream_has_no_events():
    parsed = parse_sse(": ping\n\n: ping\n\n")
    assert parsed.events == []
    assert parsed.terminated


def test_event_names():
    parsed = parse_sse("event: delta\ndata: 1\n\ndata: 2\n\nevent: error\ndata: {}\n\n")
    assert [(e.event, e.data) for e in parsed.events] == [("delta", "1"), (None, "2"), ("error", "{}")]
    assert parsed.events[0].fields == ["event", "data"]


def test_event_name_does_not_leak_into_the_next_event():
    parsed = parse_sse("event: first\ndata: a\n\ndata: b\n\n")
    assert parsed.events[1].event is None


@pytest.mark.parametrize("line", ["event:", "event: ", "event"], ids=["colon", "colon-space", "bare"])
def test_empty_event_name_is_the_default_type(line):
    # WHATWG HTML 9.2.6: an empty event type buffer dispatches the default "message" event.
    parsed = parse_sse(f"{line}\ndata: x\n\nevent: message\ndata: y\n\n")
    assert [(e.event, e.data) for e in parsed.events] == [(None, "x"), ("message", "y")]
    assert parsed.bad_lines == []


def test_data_without_space_after_colon():
    parsed = parse_sse("data:{\"x\":1}\n\nevent:named\ndata:y\n\n")
    assert [(e.event, e.data) for e in parsed.events] == [(None, '{"x":1}'), ("named", "y")]


def test_only_one_leading_space_is_stripped():
    parsed = parse_sse("data:  two spaces\n\n")
    assert parsed.events[0].data == " two spaces"


def test_field_name_without_colon():
    # WHATWG: a line without a colon is a field with an empty value.
    parsed = parse_sse("data\n\n")
    assert [e.data for e in parsed.events] == [""]
    assert parsed.bad_lines == []


def test_id_and_retry_fields_are_fields_not_bad_lines():
    parsed = parse_sse("id: 7\nretry: 1000\ndata: x\n\n")
    assert parsed.bad_lines == []
    assert parsed.events[0].id == "7"
    assert parsed.events[0].data == "x"


def test_id_only_block_dispatches_nothing():
    parsed = parse_sse("id: 1\n\ndata: x\n\n")
    assert [e.data for e in parsed.events] == ["x"]
    # The last event id persists (WHATWG: the last-event-id buffer is not reset on dispatch).
    assert parsed.events[0].id == "1"


def test_stream_not_ending_in_a_blank_line():
    parsed = parse_sse("data: a\n\ndata: b\n")
    assert [e.data for e in parsed.events] == ["a"]
    assert parsed.terminated is False
    assert parsed.trailing == "b"


def test_stream_ending_mid_line():
    parsed = parse_sse("data: a\n\ndata: [DONE]")
    assert [e.data for e in parsed.events] == ["a"]
    assert parsed.terminated is False
    assert parsed.trailing == "[DONE]"


def test_multi_line_trailing_data():
    parsed = parse_sse("data: a\ndata: b\n")
    assert parsed.events == []
    assert parsed.trailing == "a\nb"
    assert not parsed.terminated


@pytest.mark.parametrize("raw", ["", "data: a\n\n", "data: a\r\n\r\n", "data: a\r\r", "data: a\n\n: trailing comment\n"])
def test_terminated_streams(raw):
    parsed = parse_sse(raw)
    assert parsed.terminated
    assert parsed.trailing == ""


def test_bad_lines_are_collected():
    raw = "data: a\nDATA: upper\nfoo: bar\n{\"raw\": \"json\"}\n\n"
    parsed = parse_sse(raw)
    assert parsed.bad_lines == ["DATA: upper", "foo: bar", '{"raw": "json"}']
    assert [e.data for e in parsed.events] == ["a"]
    assert parsed.events[0].fields == ["data"]


def test_bare_json_stream_has_only_bad_lines():
    parsed = parse_sse('{"object": "chat.completion"}\n')
    assert parsed.events == []
    assert parsed.bad_lines == ['{"object": "chat.completion"}']


@pytest.mark.parametrize("raw", [b"\xef\xbb\xbfdata: x\n\n", "\ufeffdata: x\n\n"], ids=["bytes", "str"])
def test_leading_bom_is_skipped(raw):
    parsed = parse_sse(raw)
    assert [e.data for e in parsed.events] == ["x"]
    assert parsed.bad_lines == []


def test_bom_elsewhere_is_not_skipped():
    parsed = parse_sse("data: x\n\n\ufeffdata: y\n\n")
    assert [e.data for e in parsed.events] == ["x"]
    assert parsed.bad_lines == ["\ufeffdata: y"]


def test_done_is_an_ordinary_data_event():
    parsed = parse_sse(STREAM)
    done = parsed.events[-1]
    assert done.data == "[DONE]"
    assert done.event is None
    assert done.fields == ["data"]


def test_invalid_utf8_does_not_raise():
    parsed = parse_sse(b"data: \xff\xfe\n\n")
    assert len(parsed.events) == 1
    assert "\ufffd" in parsed.events[0].data


_TEXT = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)
_EVENT = st.tuples(st.one_of(st.none(), st.from_regex(r"[a-z][a-z_.]{0,10}", fullmatch=True)), st.lists(_TEXT, min_size=1, max_size=4))


@settings(max_examples=150, deadline=None)
@given(events=st.lists(_EVENT, max_size=6), eol=st.sampled_from(["\n", "\r\n", "\r"]), as_bytes=st.booleans())
def test_round_trip(events, eol, as_bytes):
    """Whatever is serialised as SSE with one line ending parses back to the same events."""
    raw = ""
    for name, lines in events:
        if name is not None:
            raw += f"event: {name}{eol}"
        raw += "".join(f"data: {line}{eol}" for line in lines) + eol
    parsed = parse_sse(raw.encode() if as_bytes else raw)
    assert [(e.event, e.data) for e in parsed.events] == [(name, "\n".join(lines)) for name, lines in events]
    assert parsed.bad_lines == []
    assert parsed.terminated
