"""POST /v1/audio/transcriptions: a multipart upload heard by ``speech``, answered in five formats."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from . import catalog, profile
from .errors import invalid_type, invalid_value, missing_required, unknown_parameter, unsupported_parameter
from .languages import LANGUAGES
from .multipart import Form, read_form
from .speech import Segment, Transcript, transcribe
from .validation import expect_choice

#: Fields Scaleway documents as not supported (also in their ``name[]`` array spelling): always 400.
UNSUPPORTED_PARAMETERS = profile.unsupported("transcriptions")
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
#: What the reference reports where it has no model probabilities (docs/REFERENCE_MODEL.md).
AVG_LOGPROB = -0.25
NO_SPEECH_PROB = 0.01
#: Segment token ids: one per word, a stable number below this.
VOCABULARY = 50_000


@dataclass(frozen=True)
class TranscriptionRequest:
    model: str
    data: bytes
    response_format: str = "json"
    language: str | None = None
    temperature: float = 0.0


def _field(form: Form, name: str) -> str | None:
    """The last value sent for a text field (None when absent); a file there is a type error."""
    if name in form.files:
        raise invalid_value(name, "expected a text field, got an uploaded file.")
    values = form.fields.get(name)
    return values[-1] if values else None


#: Every property of OpenAI's CreateTranscriptionRequest (additionalProperties: false).
PARAMETERS = frozenset(
    {"file", "model", "language", "languages", "keywords", "prompt", "response_format", "temperature", "include",
     "timestamp_granularities", "stream", "chunking_strategy", "known_speaker_names", "known_speaker_references"}
)


def parse_request(form: Form) -> TranscriptionRequest:
    for name in sorted(form.names()):
        if name.removesuffix("[]") in UNSUPPORTED_PARAMETERS:
            raise unsupported_parameter(name)
    model = _field(form, "model")
    if not model:
        raise missing_required("model")
    uploads = form.files.get("file")
    if not uploads:
        if "file" in form.fields:
            raise invalid_value("file", "expected an uploaded file (a multipart part with a filename), got a text field.")
        raise missing_required("file")
    if len(uploads) > 1:
        raise invalid_value("file", f"expected one file, got {len(uploads)}.")
    for name in sorted(form.names()):
        if name.removesuffix("[]") not in PARAMETERS:  # the spec's request allows no other field
            raise unknown_parameter(name)
    response_format = expect_choice(_field(form, "response_format") or "json", "response_format", RESPONSE_FORMATS)
    return TranscriptionRequest(
        model=model,
        data=uploads[0].data,
        response_format=response_format,
        language=_language(_field(form, "language")),
        temperature=_temperature(_field(form, "temperature")),
    )


def _language(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in LANGUAGES:
        raise invalid_value("language", f"expected an ISO-639-1 code Whisper knows (e.g. 'en'), got '{value[:20]}'.")
    return value


def _temperature(value: str | None) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise invalid_type("temperature", "a number", value) from None
    if not 0 <= number <= 1:
        raise invalid_value("temperature", f"expected a number between 0 and 1, got {value[:20]}.")
    return number


# --- the five formats ----------------------------------------------------------------------------


def timestamp(seconds: float, separator: str) -> str:
    """``HH:MM:SS<separator>mmm`` (``,`` for SRT, ``.`` for WebVTT)."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(transcript: Transcript) -> str:
    return "".join(
        f"{index}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text}\n\n"
        for index, s in enumerate(transcript.segments, start=1)
    )


def vtt(transcript: Transcript) -> str:
    cues = "".join(f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text}\n\n" for s in transcript.segments)
    return "WEBVTT\n\n" + cues


def usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def _segment(index: int, segment: Segment, temperature: float) -> dict[str, Any]:
    encoded = segment.text.encode()
    return {
        "id": index,
        "seek": 3000 * math.floor(segment.start / 30),
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": [zlib.crc32(word.encode()) % VOCABULARY for word in segment.text.split()],
        "temperature": temperature,
        "avg_logprob": AVG_LOGPROB,
        "compression_ratio": round(len(encoded) / len(zlib.compress(encoded)), 4),
        "no_speech_prob": NO_SPEECH_PROB,
    }


def verbose_json(request: TranscriptionRequest, transcript: Transcript) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "language": LANGUAGES[request.language or "en"],
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": [_segment(i, s, request.temperature) for i, s in enumerate(transcript.segments)],
        "usage": usage(transcript),
    }


def render(request: TranscriptionRequest, transcript: Transcript) -> Response:
    if request.response_format == "text":
        return PlainTextResponse(transcript.text + "\n")
    if request.response_format == "srt":
        return PlainTextResponse(srt(transcript))
    if request.response_format == "vtt":
        return PlainTextResponse(vtt(transcript))
    if request.response_format == "verbose_json":
        return JSONResponse(verbose_json(request, transcript))
    return JSONResponse({"text": transcript.text, "usage": usage(transcript)})


async def create_transcription(http_request: Request) -> Response:
    request = parse_request(await read_form(http_request))
    catalog.get_with(request.model, catalog.TRANSCRIPTION, "audio transcriptions")
    transcript = await run_in_threadpool(transcribe, request.data)
    return render(request, transcript)
