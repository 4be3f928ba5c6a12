"""Faults of /v1/audio/transcriptions: each breaks one contract of the endpoint (formats, timings, words, refusals)."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.server.errors import APIError
from conformance.server.multipart import Form, Upload, parse

from . import Req, Resp, fault

HELLO_WAV = (Path(__file__).resolve().parents[2] / "fixtures" / "audio" / "hello.wav").read_bytes()
FIXED_TEXT = "Thank you for watching."
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))')
_TIMING = re.compile(r"^(\S+) --> (\S+)$", re.MULTILINE)


def _form(req: Req) -> Form | None:
    """The multipart form of a transcription request, or None for any other request."""
    if req.method != "POST" or req.path != "/audio/transcriptions":
        return None
    match = _BOUNDARY.search(req.headers.get("content-type", ""))
    if match is None:
        return None
    try:
        return parse(req.body, (match.group(1) or match.group(2)).encode())
    except APIError:
        return None


def _set_form(req: Req, form: Form) -> None:
    boundary = "faulty-server-boundary"
    parts = []
    for name, values in form.fields.items():
        for value in values:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n")
    for name, uploads in form.files.items():
        for upload in uploads:
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{upload.filename}"\r\nContent-Type: {upload.content_type}\r\n\r\n'
            parts.append(head.encode() + upload.data + b"\r\n")
    req.body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req.headers["content-type"] = f"multipart/form-data; boundary={boundary}"


def _format(req: Req) -> str | None:
    """The response_format of a transcription request (json when not sent); None for other requests."""
    form = _form(req)
    if form is None:
        return None
    return (form.fields.get("response_format") or ["json"])[-1]


def _served(req: Req, resp: Resp, *formats: str) -> bool:
    return resp.status == 200 and _format(req) in formats


def _retime(text: str, change) -> str:
    """Every 'start --> end' line of an SRT/VTT body with both times passed through ``change``."""
    return _TIMING.sub(lambda m: f"{change(m.group(1))} --> {change(m.group(2))}", text)


# -- formats ---------------------------------------------------------------------------------------
@fault("transcriptions_text_as_json", {"transcriptions.response.content_type", "transcriptions.text.bare"})
def text_as_json(req, resp):
    """response_format text is answered as JSON {"text": ...} (application/json)."""
    if _served(req, resp, "text"):
        resp.set_json({"text": resp.body.decode().strip()})
        resp.headers["content-type"] = "application/json"


@fault("transcriptions_text_plain_as_json_type", "transcriptions.response.content_type")
def text_plain_as_json_type(req, resp):
    """text, srt and vtt bodies are right but labelled Content-Type: application/json."""
    if _served(req, resp, "text", "srt", "vtt"):
        resp.headers["content-type"] = "application/json"


@fault("transcriptions_srt_dot_separator", "transcriptions.srt.syntax")
def srt_dot_separator(req, resp):
    """SRT timestamps use '.' before the milliseconds (WebVTT style) instead of ','."""
    if _served(req, resp, "srt"):
        resp.body = _retime(resp.body.decode(), lambda t: t.replace(",", ".")).encode()


@fault("transcriptions_srt_numbered_from_zero", "transcriptions.srt.syntax")
def srt_numbered_from_zero(req, resp):
    """SRT cues are numbered from 0."""
    if _served(req, resp, "srt"):
        resp.body = re.sub(r"^(\d+)$", lambda m: str(int(m.group(1)) - 1), resp.body.decode(), flags=re.MULTILINE).encode()


@fault("transcriptions_vtt_no_header", "transcriptions.vtt.syntax")
def vtt_no_header(req, resp):
    """WebVTT bodies lack the 'WEBVTT' header line."""
    if _served(req, resp, "vtt"):
        resp.body = resp.body.decode().removeprefix("WEBVTT\n\n").encode()


@fault("transcriptions_vtt_comma_separator", "transcriptions.vtt.syntax")
def vtt_comma_separator(req, resp):
    """WebVTT timestamps use ',' before the milliseconds (SRT style) instead of '.'."""
    if _served(req, resp, "vtt"):
        resp.body = _retime(resp.body.decode(), lambda t: t.replace(".", ",")).encode()


@fault("transcriptions_verbose_missing_fields", {"transcriptions.verbose_json.schema", "transcriptions.verbose_json.duration"})
def verbose_missing_fields(req, resp):
    """verbose_json lacks task, language and duration (LocalAI #5327)."""
    if _served(req, resp, "verbose_json"):
        body = resp.json
        for name in ("task", "language", "duration"):
            body.pop(name)
        resp.set_json(body)


@fault("transcriptions_duration_in_milliseconds", "transcriptions.verbose_json.duration")
def duration_in_milliseconds(req, resp):
    """verbose_json reports the duration in milliseconds."""
    if _served(req, resp, "verbose_json"):
        body = resp.json
        body["duration"] = round(body["duration"] * 1000)
        resp.set_json(body)


@fault("transcriptions_json_text_renamed", "transcriptions.json.schema")
def json_text_renamed(req, resp):
    """response_format json answers {"transcript": ...} instead of {"text": ...}."""
    if _served(req, resp, "json"):
        body = resp.json
        body["transcript"] = body.pop("text")
        resp.set_json(body)


@fault(
    "transcriptions_response_format_ignored",
    {
        "transcriptions.response.content_type",
        "transcriptions.text.bare",
        "transcriptions.srt.syntax",
        "transcriptions.vtt.syntax",
        "transcriptions.verbose_json.schema",
        "transcriptions.verbose_json.duration",
        "transcriptions.verbose_json.segments_timeline",
        "transcriptions.verbose_json.segments_match_text",
    },
    # response_format xml is accepted too: the field is not even read.
    collateral={"errors.envelope", "errors.invalid_request_rejected"},
)
def response_format_ignored(req):
    """response_format is ignored: every transcription is answered as json {"text": ...}."""
    form = _form(req)
    if form is not None and "response_format" in form.fields:
        del form.fields["response_format"]
        _set_form(req, form)


# -- segments and timings --------------------------------------------------------------------------
@fault("transcriptions_segments_out_of_order", "transcriptions.verbose_json.segments_timeline")
def segments_out_of_order(req, resp):
    """verbose_json segment times are reversed: the last sentence is stamped first."""
    if _served(req, resp, "verbose_json"):
        body = resp.json
        spans = [(s["start"], s["end"]) for s in body["segments"]]
        for segment, (start, end) in zip(body["segments"], reversed(spans)):
            segment["start"], segment["end"] = start, end
        resp.set_json(body)


@fault(
    "transcriptions_timestamps_beyond_duration",
    {"transcriptions.srt.syntax", "transcriptions.vtt.syntax", "transcriptions.verbose_json.segments_timeline"},
)
def timestamps_beyond_duration(req, resp):
    """Every timestamp (SRT, WebVTT, verbose_json segments) is 10x too large: cues end past the clip."""
    if _served(req, resp, "verbose_json"):
        body = resp.json
        for segment in body["segments"]:
            segment["start"], segment["end"] = segment["start"] * 10, segment["end"] * 10
        resp.set_json(body)
    elif _served(req, resp, "srt", "vtt"):
        separator = "," if _format(req) == "srt" else "."

        def scaled(stamp: str) -> str:
            hours, minutes, rest = stamp.replace(",", ".").split(":")
            millis = round((int(hours) * 3600 + int(minutes) * 60 + float(rest)) * 10_000)
            return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}{separator}{millis % 1000:03d}"

        resp.body = _retime(resp.body.decode(), scaled).encode()


@fault("transcriptions_segments_text_mismatch", "transcriptions.verbose_json.segments_match_text")
def segments_text_mismatch(req, resp):
    """verbose_json's last segment is dropped while 'text' keeps every sentence."""
    if _served(req, resp, "verbose_json"):
        body = resp.json
        body["segments"] = body["segments"][:-1] or [{**body["segments"][0], "text": ""}]
        resp.set_json(body)


# -- the words -------------------------------------------------------------------------------------
@fault("transcriptions_ignores_audio", "transcriptions.transcript.matches_audio")
def ignores_audio(req, resp):
    """Every transcript says the same fixed sentence, whatever the audio (in every format)."""
    if not _served(req, resp, "json", "verbose_json", "text", "srt", "vtt"):
        return
    fmt = _format(req)
    if fmt in ("json", "verbose_json"):
        body = resp.json
        body["text"] = FIXED_TEXT
        for index, segment in enumerate(body.get("segments", [])):
            segment["text"] = FIXED_TEXT if index == 0 else ""
        resp.set_json(body)
    elif fmt == "text":
        resp.body = (FIXED_TEXT + "\n").encode()
    else:  # the text line after each timing line
        lines = resp.body.decode().split("\n")
        resp.body = "\n".join(FIXED_TEXT if i and "-->" in lines[i - 1] else line for i, line in enumerate(lines)).encode()


# -- refusals --------------------------------------------------------------------------------------
@fault("transcriptions_timestamp_granularities_accepted", "unsupported.parameter_refused")
def timestamp_granularities_accepted(req):
    """timestamp_granularities[] (documented unsupported) is silently dropped and the request served."""
    form = _form(req)
    if form is not None and "timestamp_granularities[]" in form.fields:
        del form.fields["timestamp_granularities[]"]
        _set_form(req, form)


@fault("transcriptions_unsupported_file_accepted", "errors.invalid_request_rejected")
def unsupported_file_accepted(req):
    """A file that is not audio (an image, a text file) is accepted: the server transcribes something anyway."""
    form = _form(req)
    uploads = form.files.get("file") if form is not None else None
    if uploads and not uploads[0].data.startswith((b"RIFF", b"ID3", b"\xff", b"fLaC", b"OggS")):
        form.files["file"] = [Upload("audio.wav", "audio/wav", HELLO_WAV)]
        _set_form(req, form)


@fault("transcriptions_unknown_model_served", "errors.unknown_model_rejected")
def unknown_model_served(req):
    """A transcription naming an unknown model is served by whisper-large-v3."""
    form = _form(req)
    if form is not None and form.fields.get("model") == ["conformance-no-such-model"]:
        form.fields["model"] = ["whisper-large-v3"]
        _set_form(req, form)


@fault("transcriptions_chat_model_transcribes", "errors.invalid_request_rejected")
def chat_model_transcribes(req):
    """Any existing model transcribes, even a chat-only one."""
    form = _form(req)
    if form is not None and form.fields.get("model", [""])[-1].startswith("mistral-small"):
        form.fields["model"] = ["whisper-large-v3"]
        _set_form(req, form)


@fault("transcriptions_missing_file_500", "errors.invalid_request_rejected")
def missing_file_500(req):
    """A transcription request without a file crashes the server: 500."""
    form = _form(req)
    if form is not None and "file" not in form.files:
        return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
    return None


@fault("transcriptions_usage_mistyped", {"golden.shape.matches", "transcriptions.json.schema", "transcriptions.verbose_json.schema"})
def usage_mistyped(req, resp):
    """JSON transcriptions carry `usage` as a string: optional in the spec, but when it is sent it
    must have the documented shape."""
    if req.method == "POST" and req.path == "/audio/transcriptions" and resp.status == 200:
        body = resp.json
        if isinstance(body, dict) and "usage" in body:
            body["usage"] = "3 seconds"
            resp.set_json(body)
