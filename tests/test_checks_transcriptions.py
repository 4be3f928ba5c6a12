"""The transcription checks accept what real servers send (OpenAI's subtitle styles) and refuse near misses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.checks import Failure
from conformance.checks import transcriptions as checks
from conformance.transport import ApiRequest, Exchange

SAID = "I would like a cup of coffee. Where is the train station"
PARAMS = {"text": SAID, "words": ["coffee", "train", "station"], "duration": 4.995, "max_wer": 0.3}


def run(fn, body: str, fmt: str, content_type: str = "text/plain; charset=utf-8"):
    ex = Exchange(ApiRequest("POST", "/audio/transcriptions"), "http", "", 200, {"content-type": content_type}, body.encode(), json=body)
    return fn(SimpleNamespace(params={**PARAMS, "format": fmt}), ex)


OPENAI_SRT = "1\r\n00:00:00,000 --> 00:00:01,700\r\nI would like a cup of coffee.\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,600\r\nWhere is the train station?\r\n"
SHORT_VTT = "WEBVTT\n\n00:00.000 --> 00:01.700\nI would like a cup of coffee.\n\ncue-2\n00:03.000 --> 00:04.600 align:start\nWhere is the\ntrain station?\n"


def test_accepts_crlf_srt_and_vtt_without_hours_with_identifiers_and_settings():
    assert run(checks.srt_syntax, OPENAI_SRT, "srt") == "2 cue(s)"
    assert run(checks.vtt_syntax, SHORT_VTT, "vtt") == "2 cue(s)"
    assert run(checks.matches_audio, SHORT_VTT, "vtt") == "word error rate 0.00"


@pytest.mark.parametrize(
    "body, message",
    [
        (OPENAI_SRT.replace(",", ".", 1), "is not 'HH:MM:SS,mmm"),
        (OPENAI_SRT.replace("2\r\n00:00:03", "3\r\n00:00:03"), "numbered '3'"),
        (OPENAI_SRT.replace("00:00:03,000 --> 00:00:04,600", "00:00:01,000 --> 00:00:04,600"), "out of order"),
        (OPENAI_SRT.replace("00:00:04,600", "00:00:09,600"), "past the end"),
        (OPENAI_SRT.replace("00:00:01,700", "00:00:00,000"), "not after its start"),
        ("", "no cues"),
    ],
)
def test_refuses_srt_near_misses(body, message):
    with pytest.raises(Failure, match=message):
        run(checks.srt_syntax, body, "srt")


@pytest.mark.parametrize(
    "body, message",
    [
        (SHORT_VTT.removeprefix("WEBVTT\n\n"), "expected the line 'WEBVTT'"),
        (SHORT_VTT.replace("WEBVTT\n\n", "WEBVTT\n"), "not followed by a blank line"),
        (SHORT_VTT.replace("00:01.700", "00:01,700"), "is not '\\[HH:\\]MM:SS.mmm"),
    ],
)
def test_refuses_vtt_near_misses(body, message):
    with pytest.raises(Failure, match=message):
        run(checks.vtt_syntax, body, "vtt")


def test_text_must_be_bare_and_words_must_match():
    assert run(checks.text_bare, SAID + "\n", "text") is None
    with pytest.raises(Failure, match="is JSON"):
        run(checks.text_bare, '{"text": "I would like"}', "text")
    with pytest.raises(Failure, match="subtitle timings"):
        run(checks.text_bare, OPENAI_SRT, "text")
    with pytest.raises(Failure, match="lacks the spoken word"):
        run(checks.matches_audio, "Thank you for watching.", "text")
    with pytest.raises(Failure, match="word error rate"):
        run(checks.matches_audio, "Coffee, train station, coffee, coffee, coffee.", "text")


def test_word_error_rate():
    assert checks.word_error_rate(["a", "b", "c"], ["a", "x", "c", "d"]) == pytest.approx(2 / 3)
    assert checks.word_error_rate(["a"], []) == 1.0


def test_accepts_vtt_with_lone_cr_line_ends():
    # W3C WebVTT: a line terminator is CRLF, LF or a lone CR.
    assert run(checks.vtt_syntax, SHORT_VTT.replace("\n", "\r"), "vtt") == "2 cue(s)"
    assert run(checks.matches_audio, SHORT_VTT.replace("\n", "\r"), "vtt") == "word error rate 0.00"


VERBOSE = {"language": "en", "duration": 4.995, "text": SAID, "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 1.7, "text": SAID, "tokens": [1], "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01}]}


def _verbose(body: dict):
    from conformance.openapi import schema_errors

    ex = Exchange(ApiRequest("POST", "/audio/transcriptions"), "http", "", 200, {"content-type": "application/json"}, b"", json=body)
    ctx = SimpleNamespace(params={**PARAMS, "format": "verbose_json"}, schema_errors=lambda component, value: schema_errors(component, value))
    return checks.verbose_schema(ctx, ex)


def test_verbose_json_task_is_optional_but_must_be_transcribe_when_sent():
    # `task` is not among CreateTranscriptionResponseVerboseJson's properties (only in its example); vLLM omits it.
    _verbose(VERBOSE)
    _verbose({**VERBOSE, "task": "transcribe"})
    with pytest.raises(Failure, match="'task' must be"):
        _verbose({**VERBOSE, "task": "translate"})
    with pytest.raises(Failure, match="CreateTranscriptionResponseVerboseJson"):
        _verbose({k: v for k, v in VERBOSE.items() if k != "language"})
