"""The reference server's /v1/audio/transcriptions (docs/REFERENCE_MODEL.md, "Transcriptions"), with fixtures/audio/."""

from __future__ import annotations

import array
import json
import math
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app, multipart, speech, transcriptions

KEY = "sk-test-transcriptions"
AUTH = {"Authorization": f"Bearer {KEY}"}
WHISPER = "whisper-large-v3"
CHAT_MODEL = "mistral-small-3.2-24b-instruct-2506"
AUDIO_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "audio"
IMAGES_DIR = AUDIO_DIR.parent / "images"
TWO_SENTENCES = "I would like a cup of coffee. Where is the train station."
HELLO = "I would like a cup of coffee."


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def clip(name: str) -> bytes:
    return (AUDIO_DIR / name).read_bytes()


def post(client: TestClient, fields: dict | None = None, *, data: bytes | None = None, name: str = "two-sentences.wav", files=None):
    fields = {"model": WHISPER, **(fields or {})}
    if files is None:
        files = {"file": (name, clip(name) if data is None else data, "application/octet-stream")}
    return client.post("/v1/audio/transcriptions", headers=AUTH, data=fields, files=files)


def refusal(response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


# --- the five formats -------------------------------------------------------------------------------


def test_json_is_the_text_and_the_duration_usage(client):
    response = post(client, {"response_format": "json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {"text": TWO_SENTENCES, "usage": {"type": "duration", "seconds": 5}}
    assert schema_errors("CreateTranscriptionResponseJson", body) == []


def test_json_is_the_default_format(client):
    assert post(client).json()["text"] == TWO_SENTENCES


def test_text_is_the_bare_transcript(client):
    response = post(client, {"response_format": "text"})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == TWO_SENTENCES + "\n"


def test_srt_numbers_its_cues_and_uses_commas(client):
    response = post(client, {"response_format": "srt"})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == (
        "1\n00:00:00,000 --> 00:00:01,670\nI would like a cup of coffee.\n\n"
        "2\n00:00:03,060 --> 00:00:04,610\nWhere is the train station.\n\n"
    )


def test_vtt_has_the_header_and_uses_dots(client):
    response = post(client, {"response_format": "vtt"})
    assert response.text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.670\nI would like a cup of coffee.\n\n"
        "00:00:03.060 --> 00:00:04.610\nWhere is the train station.\n\n"
    )


def test_verbose_json_is_valid_and_consistent(client):
    body = post(client, {"response_format": "verbose_json", "temperature": "0.4"}).json()
    assert schema_errors("CreateTranscriptionResponseVerboseJson", body) == []
    assert (body["task"], body["language"], body["duration"], body["text"]) == ("transcribe", "english", 4.995, TWO_SENTENCES)
    segments = body["segments"]
    assert [(s["id"], s["seek"], s["start"], s["end"]) for s in segments] == [(0, 0, 0.0, 1.67), (1, 0, 3.06, 4.61)]
    assert " ".join(s["text"] for s in segments) == body["text"]
    assert all(s["temperature"] == 0.4 and len(s["tokens"]) == len(s["text"].split()) for s in segments)
    assert body["usage"] == {"type": "duration", "seconds": 5}


def test_verbose_json_names_the_requested_language(client):
    assert post(client, {"response_format": "verbose_json", "language": "fr"}).json()["language"] == "french"


def test_prompt_and_language_do_not_change_the_words(client):
    body = post(client, {"prompt": "Something else entirely.", "language": "de"}).json()
    assert body["text"] == TWO_SENTENCES


@pytest.mark.parametrize("seconds, separator, expected", [(0, ",", "00:00:00,000"), (3725.0406, ".", "01:02:05.041"), (59.9996, ",", "00:01:00,000")])
def test_timestamp(seconds, separator, expected):
    assert transcriptions.timestamp(seconds, separator) == expected


# --- file types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hello.wav", "hello.mp3", "hello.flac"])
def test_documented_file_types_are_heard(client, name):
    body = post(client, name=name).json()
    assert body["text"] == HELLO


def test_the_file_name_and_content_type_do_not_matter(client):
    files = {"file": ("recording.txt", clip("hello.mp3"), "text/plain")}
    assert post(client, files=files).json()["text"] == HELLO


@pytest.mark.parametrize(
    "data, words",
    [
        ((IMAGES_DIR / "red.png").read_bytes(), "not audio"),
        (b"Just some text, not a recording.\n", "not audio"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A isom", "MP4/M4A"),
        (b"", "empty"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt broken", "could not be decoded"),
    ],
    ids=["png", "text", "m4a", "empty", "corrupt-wav"],
)
def test_unusable_files_are_refused_naming_file(client, data, words):
    error = refusal(post(client, data=data))
    assert error["param"] == "file" and words in error["message"]


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [("chunking_strategy", "auto"), ("include[]", "logprobs"), ("include", "logprobs"), ("timestamp_granularities[]", "segment")])
def test_unsupported_fields_are_refused_naming_them(client, field, value):
    error = refusal(post(client, {field: value}))
    assert (error["param"], error["code"]) == (field, "unsupported_parameter")


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"response_format": "xml"}, "response_format"),
        ({"response_format": "diarized_json"}, "response_format"),
        ({"language": "zz"}, "language"),
        ({"language": "english"}, "language"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": "1.5"}, "temperature"),
        ({"temperature": "-0.1"}, "temperature"),
    ],
)
def test_invalid_values_are_refused_naming_them(client, fields, param):
    assert refusal(post(client, fields))["param"] == param


def test_missing_model_and_missing_file_are_named(client):
    files = {"file": ("a.wav", clip("hello.wav"), "audio/wav")}
    no_model = client.post("/v1/audio/transcriptions", headers=AUTH, files=files)
    assert refusal(no_model)["param"] == "model"
    no_file = client.post(
        "/v1/audio/transcriptions", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b"},
        content=b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-large-v3\r\n--b--\r\n',
    )
    assert refusal(no_file)["code"] == "missing_required_parameter" and refusal(no_file)["param"] == "file"


def test_file_as_a_text_field_and_two_files_are_refused(client):
    as_text = client.post("/v1/audio/transcriptions", headers=AUTH, data={"model": WHISPER, "file": "hello.wav"}, files={"other": ("x", b"x", "text/plain")})
    assert refusal(as_text)["param"] == "file"
    wav = ("a.wav", clip("hello.wav"), "audio/wav")
    two = client.post("/v1/audio/transcriptions", headers=AUTH, data={"model": WHISPER}, files=[("file", wav), ("file", wav)])
    assert "one file" in refusal(two)["message"]


def test_unknown_model_is_404_and_a_chat_model_400(client):
    assert refusal(post(client, {"model": "no-such-model"}), 404)["code"] == "model_not_found"
    assert refusal(post(client, {"model": CHAT_MODEL}))["code"] == "model_not_supported"


def test_voxtral_transcribes_too(client):
    assert post(client, {"model": "voxtral-small-24b-2507"}).json()["text"] == TWO_SENTENCES


def test_a_body_that_is_not_multipart_is_refused(client):
    response = client.post("/v1/audio/transcriptions", headers=AUTH, json={"model": WHISPER})
    assert "multipart/form-data" in refusal(response)["message"]
    unclosed = client.post(
        "/v1/audio/transcriptions", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b"},
        content=b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-large-v3\r\n',
    )
    assert "closing boundary" in refusal(unclosed)["message"]


# --- multipart parsing --------------------------------------------------------------------------------


def test_parse_keeps_binary_data_repeated_fields_and_file_names():
    data = b"\r\n\r\n\x00\xff--b\r\n-"  # CRLF, a blank line, "--b" not after a CRLF: all data
    body = (
        b'preamble\r\n--b\r\nContent-Disposition: form-data; name="x[]"\r\n\r\n1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="x[]"\r\n\r\n2\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a \\"b\\".wav"\r\nContent-Type: audio/wav\r\n\r\n' + data + b"\r\n--b--\r\n"
    )
    form = multipart.parse(body, b"b")
    assert form.fields == {"x[]": ["1", "2"]}
    (upload,) = form.files["file"]
    assert (upload.data, upload.content_type) == (data, "audio/wav")


# --- hearing: segments and the cache ------------------------------------------------------------------


def tone(seconds: float, amplitude: int) -> array.array:
    return array.array("h", (round(amplitude * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(round(seconds * 16000))))


def test_speech_spans_split_at_pauses_longer_than_half_a_second():
    loud, quiet = tone(0.3, 8000), tone(0.3, 0)
    assert speech.speech_spans(quiet) == []
    assert speech.speech_spans(loud + quiet + loud) == [(0, 90)]  # a 0.3 s pause joins
    assert speech.speech_spans(loud + quiet + quiet + loud) == [(0, 30), (90, 120)]
    assert speech.speech_spans(tone(0.05, 8000)) == []  # a click is not speech


def test_transcripts_are_cached_by_content(monkeypatch):
    heard = []
    monkeypatch.setattr(speech, "_hear", lambda data: heard.append(data) or speech.Transcript(1.0, ()))
    cache = speech._Cache()
    for data in (b"a", b"b", b"a"):
        cache(data)
    assert heard == [b"a", b"b"]
    monkeypatch.setattr(speech, "CACHE_SIZE", 1)
    cache(b"c")
    cache(b"a")
    assert heard == [b"a", b"b", b"c", b"a"]


def test_the_same_clip_is_heard_the_same_way_twice():
    data = clip("two-sentences.wav")
    assert speech._hear(data) == speech._hear(data) == speech.transcribe(data)


def test_manifest_text_is_what_the_reference_hears():
    entries = json.loads((AUDIO_DIR / "transcriptions.json").read_text())["files"]
    for entry in entries:
        heard = re.findall(r"[a-z]+", speech.transcribe(clip(entry["file"])).text.lower())
        assert heard == re.findall(r"[a-z]+", entry["text"].lower()), entry["file"]
