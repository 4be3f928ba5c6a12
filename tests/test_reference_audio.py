"""The reference server's audio input (docs/REFERENCE_MODEL.md, "Audio"), with fixtures/audio/."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import re
import wave
from pathlib import Path

import miniaudio
import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import audio, create_app, model
from conformance.server.messages import load_audio, parse_messages

KEY = "sk-test-audio"
AUTH = {"Authorization": f"Bearer {KEY}"}
AUDIO_MODEL = "voxtral-small-24b-2507"
VISION_MODEL = "mistral-small-3.2-24b-instruct-2506"  # chat, vision, tools: no audio
AUDIO_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "audio"
QUESTION = "Transcribe this audio."
PARAM = "messages[0].content[1].input_audio"

MANIFEST = json.loads((AUDIO_DIR / "manifest.json").read_text())["files"]
BY_FORMAT = {entry["format"]: entry for entry in MANIFEST}


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def clip(name: str) -> bytes:
    return (AUDIO_DIR / name).read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def audio_part(data: str | bytes, fmt: str) -> dict:
    encoded = b64(data) if isinstance(data, bytes) else data
    return {"type": "input_audio", "input_audio": {"data": encoded, "format": fmt}}


def fixture_part(entry: dict) -> dict:
    return audio_part(clip(entry["file"]), entry["format"])


def user_message(parts: list[dict], text: str | None = QUESTION) -> dict:
    return {"role": "user", "content": ([{"type": "text", "text": text}] if text is not None else []) + parts}


def ask(client: TestClient, parts: list[dict], text: str | None = QUESTION, *, model_id: str = AUDIO_MODEL, **params):
    body = {"model": model_id, "messages": [user_message(parts, text)], **params}
    return client.post("/v1/chat/completions", headers=AUTH, json=body)


def answer(response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("CreateChatCompletionResponse", body) == []
    return body["choices"][0]["message"]["content"]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def assert_refused(response, param: str = PARAM, code: str = "invalid_value", status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param), error
    assert param in error["message"]
    return error


def wav_bytes(samples: bytes, rate: int = 16_000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def decoded_samples(data: bytes) -> int:
    """Samples of the clip at 16 kHz mono, decoded independently of the server."""
    sound = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16_000)
    return sound.num_frames


# --- the fixtures are heard: the answer contains their words ------------------------------------------


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_fixture_transcript_contains_the_manifest_words(client, entry):
    text = answer(ask(client, [fixture_part(entry)]))
    assert all(word in words(text) for word in entry["words"]), text
    assert text[0].isupper() and text.endswith(".") and not text.endswith(".."), text


def test_both_fixtures_are_heard_word_for_word():
    """Stronger than the contract (key words): the phrase was chosen so pocketsphinx gets all of it."""
    for entry in MANIFEST:
        pcm = audio.decode(audio.AudioInput("", entry["format"], PARAM), clip(entry["file"]))
        assert audio.recognise(pcm) == entry["text"].lower()


def test_several_clips_are_joined_with_a_space_in_order(client):
    text = answer(ask(client, [fixture_part(BY_FORMAT["wav"]), fixture_part(BY_FORMAT["mp3"])]))
    spoken = BY_FORMAT["wav"]["text"].lower()
    assert text == f"{spoken[0].upper()}{spoken[1:]} {spoken}."


@pytest.mark.parametrize(
    "question", ["Please TRANSCRIBE the clip.", "What is the transcript?", "Give me a transcription.", "transcribed?"]
)
def test_transcribe_or_transcript_in_any_case_triggers_the_rule(client, question):
    assert "coffee" in words(answer(ask(client, [fixture_part(BY_FORMAT["wav"])], question)))


def test_without_the_trigger_word_the_text_rules_answer(client):
    assert answer(ask(client, [fixture_part(BY_FORMAT["wav"])], "What is said here?")) == "You said: What is said here?"
    assert answer(ask(client, [fixture_part(BY_FORMAT["wav"])], "Reply with exactly: OK")) == "OK"


def test_audio_only_content_without_a_question_echoes_nothing(client):
    assert answer(ask(client, [fixture_part(BY_FORMAT["mp3"])], None)) == "You said:"


def test_only_the_last_user_messages_clips_are_transcribed(client):
    messages = [
        user_message([fixture_part(BY_FORMAT["wav"])], "Listen."),
        {"role": "assistant", "content": "OK."},
        {"role": "user", "content": "Transcribe it."},
    ]
    body = {"model": AUDIO_MODEL, "messages": messages}
    assert answer(client.post("/v1/chat/completions", headers=AUTH, json=body)) == "You said: Transcribe it."


def test_silence_is_no_speech_and_falls_back_to_the_text_rules(client):
    silence = wav_bytes(bytes(2 * 16_000))  # one second of digital silence
    assert answer(ask(client, [audio_part(silence, "wav")])) == f"You said: {QUESTION}"


def test_other_rates_and_stereo_wav_are_accepted(client):
    stereo = wav_bytes(bytes(4 * 8_000), rate=8_000, channels=2)  # resampled and mixed down
    assert ask(client, [audio_part(stereo, "wav")]).status_code == 200


def test_streamed_transcript_equals_the_answer(client):
    expected = answer(ask(client, [fixture_part(BY_FORMAT["mp3"])]))
    body = {"model": AUDIO_MODEL, "messages": [user_message([fixture_part(BY_FORMAT["mp3"])])], "stream": True}
    with client.stream("POST", "/v1/chat/completions", headers=AUTH, json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == expected


def test_audio_request_is_a_valid_openai_request():
    body = {"model": AUDIO_MODEL, "messages": [user_message([fixture_part(e) for e in MANIFEST])]}
    assert schema_errors("CreateChatCompletionRequest", body) == []


def test_json_mode_answers_with_the_transcript(client):
    response = ask(client, [fixture_part(BY_FORMAT["wav"])], response_format={"type": "json_object"})
    assert "coffee" in words(json.loads(answer(response))["answer"])


# --- usage: one prompt token per 80 ms ---------------------------------------------------------------


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_each_clip_costs_one_prompt_token_per_80_ms(client, entry):
    samples = decoded_samples(clip(entry["file"]))
    expected_audio_tokens = math.ceil(samples / 16_000 / 0.080 - 1e-9)
    assert 20 <= expected_audio_tokens <= 40  # a ~2 s clip
    with_audio = ask(client, [fixture_part(entry)]).json()["usage"]
    text_only = client.post(
        "/v1/chat/completions", headers=AUTH,
        json={"model": AUDIO_MODEL, "messages": [user_message([], QUESTION)]},
    ).json()["usage"]  # fmt: skip
    assert with_audio["prompt_tokens"] - text_only["prompt_tokens"] == expected_audio_tokens
    assert with_audio["prompt_tokens"] == model.prompt_tokens([QUESTION]) + expected_audio_tokens
    assert with_audio["total_tokens"] == with_audio["prompt_tokens"] + with_audio["completion_tokens"]


@pytest.mark.parametrize("samples, tokens", [(1, 1), (1280, 1), (1281, 2), (2560, 2), (16_000, 13)])
def test_a_started_80_ms_counts_whole(client, samples, tokens):
    clip_ = audio.AudioInput(b64(wav_bytes(bytes(2 * samples))), "wav", PARAM)
    audio.load(clip_)
    assert (clip_.samples, clip_.tokens) == (samples, tokens)


def test_every_clip_of_every_message_is_counted(client):
    wav_part = fixture_part(BY_FORMAT["wav"])
    one = ask(client, [wav_part]).json()["usage"]["prompt_tokens"]
    messages = [user_message([wav_part], QUESTION), {"role": "assistant", "content": "OK."}, user_message([wav_part])]
    body = {"model": AUDIO_MODEL, "messages": messages}
    usage = client.post("/v1/chat/completions", headers=AUTH, json=body).json()["usage"]
    assistant = model.prompt_tokens(["OK."]) - model.TOKENS_PER_PROMPT
    assert usage["prompt_tokens"] == 2 * one - model.TOKENS_PER_PROMPT + assistant


# --- refusals ------------------------------------------------------------------------------------------


def test_model_without_audio_is_refused_before_the_audio_is_read(client):
    for parts in ([fixture_part(BY_FORMAT["wav"])], [audio_part("not base64!", "flac")]):
        error = assert_refused(ask(client, parts, model_id=VISION_MODEL), param="model", code="model_not_supported")
        assert "audio" in error["message"]


@pytest.mark.parametrize("fmt", ["flac", "ogg", "WAV", "m4a", ""])
def test_formats_other_than_wav_and_mp3_are_refused(client, fmt):
    error = assert_refused(ask(client, [audio_part(clip("hello.wav"), fmt)]))
    assert "wav or mp3" in error["message"]


@pytest.mark.parametrize("declared, file", [("wav", "hello.mp3"), ("mp3", "hello.wav")])
def test_a_declared_format_that_does_not_match_the_bytes_is_refused(client, declared, file):
    error = assert_refused(ask(client, [audio_part(clip(file), declared)]))
    assert f"declared '{declared}'" in error["message"]


@pytest.mark.parametrize(
    "data, fmt, words_in_message",
    [
        ("bm90IGF1ZGlvIGF0IGFsbCwganVzdCB0ZXh0Lg==", "wav", "not WAV or MP3"),  # "not audio at all, just text."
        ("%%% not base64 %%%", "wav", "base64"),
        ("", "mp3", "empty"),
        (b"fLaC\x00\x00\x00\x22" + bytes(64), "wav", "FLAC"),
        (b"OggS" + bytes(64), "mp3", "Ogg"),
        (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunk", "wav", "could not be decoded"),
        (bytes([0xFF, 0xF3, 0x48, 0xC4]) + bytes(20), "mp3", None),  # one frame header, then nothing
        (wav_bytes(b""), "wav", None),  # a valid header and no samples
    ],
    ids=["text", "bad-base64", "empty", "flac", "ogg", "broken-wav", "mp3-header-only", "no-samples"],
)
def test_undecodable_data_is_refused(client, data, fmt, words_in_message):
    error = assert_refused(ask(client, [audio_part(data, fmt)]))
    if words_in_message:
        assert words_in_message in error["message"]


def test_a_data_uri_is_refused_with_a_hint(client):
    error = assert_refused(ask(client, [audio_part("data:audio/wav;base64," + b64(clip("hello.wav")), "wav")]))
    assert "data: URI" in error["message"]


def test_a_refused_clip_in_an_earlier_message_is_refused_too(client):
    messages = [user_message([audio_part("AAAA", "wav")], "Listen."), {"role": "user", "content": "Transcribe it."}]
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": AUDIO_MODEL, "messages": messages})
    assert_refused(response)


@pytest.mark.parametrize(
    "part, param, code",
    [
        ({"type": "input_audio"}, f"{PARAM}", "missing_required_parameter"),
        ({"type": "input_audio", "input_audio": "AAAA"}, f"{PARAM}", "invalid_type"),
        ({"type": "input_audio", "input_audio": {"format": "wav"}}, f"{PARAM}.data", "missing_required_parameter"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA"}}, f"{PARAM}.format", "missing_required_parameter"),
        ({"type": "input_audio", "input_audio": {"data": 12, "format": "wav"}}, f"{PARAM}.data", "invalid_type"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": 1}}, f"{PARAM}.format", "invalid_type"),
    ],
    ids=["no-input_audio", "not-object", "no-data", "no-format", "data-type", "format-type"],
)
def test_malformed_parts_are_refused_with_the_body(client, part, param, code):
    # Shape errors come with the rest of the body, before the model lookup: even a model without audio.
    for model_id in (AUDIO_MODEL, VISION_MODEL):
        assert_refused(ask(client, [part], model_id=model_id), param=param, code=code)


def test_input_audio_only_in_user_messages(client):
    body = {"model": AUDIO_MODEL, "messages": [{"role": "system", "content": [fixture_part(BY_FORMAT["wav"])]}]}
    response = client.post("/v1/chat/completions", headers=AUTH, json=body)
    assert_refused(response, param="messages[0].content[0].type")


def test_identify_reads_the_bytes_not_the_name():
    assert audio.identify(clip("hello.wav")) == "wav"
    assert audio.identify(clip("hello.mp3")) == "mp3"
    assert audio.identify(b"ID3\x04\x00\x00\x00\x00\x00\x00" + clip("hello.mp3")) == "mp3"  # empty ID3v2 tag
    assert audio.identify(b"RIFF\x00\x00\x00\x00AVI ") is None
    assert audio.identify(bytes([0xFF, 0xFB, 0xF0, 0x00])) is None  # bitrate index 15: not a frame


# --- recognition: deterministic, cached, off the event loop ----------------------------------------------


def test_the_same_clip_gives_the_same_transcript_whatever_came_before():
    wav_pcm = audio.decode(audio.AudioInput("", "wav", PARAM), clip("hello.wav"))
    silence = bytes(2 * 16_000)
    hear = audio.recognise.hear  # the decoder itself, not the cache in front of it
    first, first_silence = hear(wav_pcm), hear(silence)
    hear(bytes(reversed(wav_pcm[:20_000])) + wav_pcm[::3][:10_000])  # something else in between
    again = (hear(wav_pcm), hear(silence))
    assert again == (first, first_silence) == (BY_FORMAT["wav"]["text"].lower(), "")


def test_a_clip_heard_before_is_not_heard_again(monkeypatch):
    pcm = audio.decode(audio.AudioInput("", "mp3", PARAM), clip("hello.mp3"))
    recogniser = audio._Recogniser()
    heard = []
    real_hear = recogniser.hear
    monkeypatch.setattr(recogniser, "hear", lambda data: heard.append(len(data)) or real_hear(data))
    first = recogniser(pcm)
    assert recogniser(pcm) == first == BY_FORMAT["mp3"]["text"].lower()
    assert recogniser(pcm[: len(pcm) // 2]) != first  # another clip is heard
    assert len(heard) == 2


def test_load_audio_recognises_in_the_threadpool(monkeypatch):
    seen = []
    real_recognise = audio.recognise

    def recognise(pcm):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return real_recognise(pcm)

    monkeypatch.setattr(audio, "recognise", recognise)
    messages = parse_messages([user_message([fixture_part(BY_FORMAT["wav"]), fixture_part(BY_FORMAT["mp3"])])])
    asyncio.run(load_audio(messages))
    assert seen == ["worker thread", "worker thread"]
    clips = [part.clip for part in messages[0].parts if part.type == "input_audio"]
    assert all(c.loaded and "coffee" in c.transcript for c in clips)
    asyncio.run(load_audio(messages))  # loaded once
    assert len(seen) == 2
