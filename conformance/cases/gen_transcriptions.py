"""Transcription cases derived from data: the speech fixtures' manifests and the profile's claims.

- the optional fields (language, prompt, temperature, response_format json) on the first clip;
- one case per other response_format, on the two-sentence clip (its text, key words and duration);
- one case per documented file type there is a speech fixture of.
(Documented-unsupported parameters: the one sample-values table, cases/unsupported_values.yaml.)
"""

from __future__ import annotations

import json
import wave
from functools import cache
from typing import Any

from ..paths import fixtures_dir
from ..profiles import Profile
from ..vocabulary import ENDPOINTS
from . import FILE, Case

ENDPOINT = "transcriptions"
PATH = ENDPOINTS[ENDPOINT]
CAPABILITY = "transcription"
#: The clip every response_format case uploads: two sentences a pause apart (so ≥ 2 segments are likely).
FORMAT_CLIP = "two-sentences.wav"
#: Highest word error rate accepted against what the clip says: a real Whisper scores about 0 on these
#: clean synthetic clips; a transcript that does not depend on the audio scores about 1.
MAX_WER = 0.3
#: A prompt in the clip's language and style, as the API recommends (it must not change the words heard).
PROMPT = "A customer orders a drink."
#: Checks of every accepted request, then those of each response_format.
SUCCESS = ("http.status_success", "sdk.accepts_response", "transcriptions.response.content_type")
FORMAT_CHECKS = {
    "json": ("transcriptions.json.schema",),
    "text": ("transcriptions.text.bare",),
    "srt": ("transcriptions.srt.syntax",),
    "vtt": ("transcriptions.vtt.syntax",),
    "verbose_json": (
        "transcriptions.verbose_json.schema",
        "transcriptions.verbose_json.duration",
        "transcriptions.verbose_json.segments_timeline",
        "transcriptions.verbose_json.segments_match_text",
    ),
}
def _manifest(name: str) -> list[dict[str, Any]]:
    path = fixtures_dir() / "audio" / name
    return json.loads(path.read_text())["files"] if path.exists() else []


@cache
def clips() -> tuple[dict[str, Any], ...]:
    """Every speech clip: the chat audio clips, then the transcription-only ones."""
    return tuple(_manifest("manifest.json") + _manifest("transcriptions.json"))


def wav_seconds(name: str) -> float:
    """The length of fixtures/audio/NAME (a WAV file) in seconds."""
    with wave.open(str(fixtures_dir() / "audio" / name)) as clip:
        return clip.getnframes() / clip.getframerate()


def _checks(names: tuple[str, ...]) -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((name, {}) for name in names)


def _heard_case(case_id: str, feature: str, description: str, entry: dict[str, Any], form: dict[str, str], **params: Any) -> Case:
    """An accepted upload of ``entry``'s clip: its response_format's checks and the words it says."""
    fmt = form.get("response_format", "json")
    return Case(
        id=case_id,
        endpoint=ENDPOINT,
        feature=feature,
        capability=CAPABILITY,
        description=description,
        request={"method": "POST", "path": PATH, "form": {"model": "$model", **form}, "files": {"file": f"{FILE}audio/{entry['file']}"}},
        checks=_checks(SUCCESS + FORMAT_CHECKS[fmt] + ("transcriptions.transcript.matches_audio",)),
        source=f"fixtures/audio/{entry['file']}",
        common_params={"format": fmt, "text": entry["text"], "words": list(entry["words"]), "max_wer": MAX_WER, **params},
    )


def parameter_case() -> list[Case]:
    """The optional fields sent together on the first clip: language, prompt, temperature, response_format json."""
    form = {"response_format": "json", "language": "en", "prompt": PROMPT, "temperature": "0.2"}
    description = "language, prompt and temperature are accepted; response_format json is {text}."
    return [_heard_case("transcriptions.core.parameters", "core", description, clips()[0], form)] if clips() else []


def format_cases() -> list[Case]:
    entry = next((e for e in clips() if e["file"] == FORMAT_CLIP), None)
    if entry is None:
        return []
    duration = round(wav_seconds(FORMAT_CLIP), 3)
    return [
        _heard_case(
            f"transcriptions.format.{fmt}",
            "response-formats",
            f"response_format {fmt}: its exact syntax, and the words of a two-sentence clip.",
            entry,
            {"response_format": fmt},
            duration=duration,
        )
        for fmt in ("text", "srt", "vtt", "verbose_json")
    ]


def file_type_cases(profile: Profile) -> list[Case]:
    """The first clip of each file type the profile documents: accepted, heard, answered as json."""
    documented = profile.endpoint_property(ENDPOINT, "file_types", [])
    first: dict[str, dict[str, Any]] = {}
    for entry in clips():
        if entry["format"] in documented:
            first.setdefault(entry["format"], entry)
    return [
        _heard_case(
            f"transcriptions.file_type.{fmt}",
            "file-types",
            f"A {fmt.upper()} upload (a documented file type) is accepted and transcribed.",
            entry,
            {},
        )
        for fmt, entry in first.items()
    ]


def cases(profile: Profile) -> list[Case]:
    return parameter_case() + format_cases() + file_type_cases(profile)
