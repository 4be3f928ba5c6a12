"""Checks on /v1/audio/transcriptions: each response_format's exact syntax, timings, and the words heard.

The cases say which ``format`` was asked for and what the clip says (``text``, ``words``,
``duration`` in seconds). JSON formats are judged on what the transport's client yields; text, SRT
and WebVTT on the wire bytes (the openai client hands those back as a bare string).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from . import Failure, check, json_object, require, short

#: Media types each response_format may be served as.
MEDIA_TYPES = {
    "json": ("application/json",),
    "verbose_json": ("application/json",),
    "text": ("text/plain",),
    "srt": ("text/plain", "application/x-subrip", "text/srt"),
    "vtt": ("text/vtt", "text/plain"),
}
#: How far past the clip's end a timestamp may reach, and how far the reported duration may be off (s).
DURATION_SLACK = 0.5
_SRT_TIMING = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$")
_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+.*)?$")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes kept inside words)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + deletions + insertions) / len(reference), by word-level edit distance."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1] / max(1, len(reference))


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def wire_text(ex) -> str:
    """The body as sent, line ends (CRLF, or a lone CR as WebVTT allows) normalised to LF, without a byte-order mark."""
    try:
        text = ex.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Failure(f"the body is not UTF-8: {exc}") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _blocks(text: str) -> list[list[str]]:
    return [block.split("\n") for block in re.split(r"\n{2,}", text.strip("\n")) if block.strip()]


def parse_srt(text: str) -> list[Cue]:
    """SRT cues: a counter from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text lines, a blank line."""
    cues = []
    for number, lines in enumerate(_blocks(text), start=1):
        require(lines[0].strip() == str(number), f"cue {number} is numbered {short(lines[0])}, expected {number}")
        timing = _SRT_TIMING.match(lines[1].strip()) if len(lines) > 1 else None
        require(timing, f"cue {number}: timing line {short(lines[1:2])} is not 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
        cues.append(_cue(number, timing.groups(), lines[2:]))
    require(cues, "no cues: the SRT body is empty")
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """WebVTT: a ``WEBVTT`` line, a blank line, then cues ``[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm``, text lines."""
    header, _, rest = text.partition("\n")
    require(re.fullmatch(r"WEBVTT(?:[ \t].*)?", header), f"the body starts with {short(header)}, expected the line 'WEBVTT'")
    require(not rest.strip() or rest.startswith("\n"), f"the WEBVTT line is not followed by a blank line: {short(rest[:80])}")
    cues = []
    for lines in _blocks(rest):
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue  # comments and style or region definitions
        if "-->" not in lines[0]:
            lines = lines[1:]  # a cue identifier
        number = len(cues) + 1
        timing = _VTT_TIMING.match(lines[0].strip()) if lines else None
        require(timing, f"cue {number}: timing line {short(lines[:1])} is not '[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm'")
        cues.append(_cue(number, timing.groups(), lines[1:]))
    require(cues, "no cues after the WEBVTT header")
    return cues


def _cue(number: int, groups: tuple, text_lines: list[str]) -> Cue:
    start, end = _seconds(*groups[:4]), _seconds(*groups[4:8])
    text = " ".join(line.strip() for line in text_lines).strip()
    require(text, f"cue {number} has no text")
    return Cue(start, end, text)


def check_timeline(spans: list[tuple[float, float]], duration: float, what: str) -> None:
    """Each span ends after it starts, starts no earlier than the previous one ends, and ends within the clip."""
    previous_end = 0.0
    for number, (start, end) in enumerate(spans, start=1):
        require(start >= 0, f"{what} {number} starts at {start} s, before 0")
        require(end > start, f"{what} {number} ends at {end} s, not after its start {start} s")
        require(start >= previous_end, f"{what} {number} starts at {start} s, before {what} {number - 1} ends ({previous_end} s): out of order")
        require(end <= duration + DURATION_SLACK, f"{what} {number} ends at {end} s, past the end of the {duration} s clip")
        previous_end = end


def _cue_text(text: str) -> str:
    """The spoken text of an SRT or WebVTT body, read leniently: the lines after each timing line."""
    kept, in_cue = [], False
    for line in text.split("\n"):
        if "-->" in line or not line.strip():
            in_cue = bool(line.strip())
        elif in_cue:
            kept.append(line.strip())
    return " ".join(kept)


def transcript(ctx, ex) -> str:
    """What the response says was spoken, whatever its format."""
    fmt = ctx.params["format"]
    if fmt in ("json", "verbose_json"):
        text = json_object(ex).get("text")
        require(isinstance(text, str), f"'text' must be a string, got {short(text)}")
        return text
    body = wire_text(ex)
    return body if fmt == "text" else _cue_text(body)


# --- checks ----------------------------------------------------------------------------------------


@check("transcriptions.response.content_type", level="recommended", source="openapi: #/paths/~1audio~1transcriptions/post/responses/200/content (JSON formats as application/json; openai-python returns text formats as str whatever the Content-Type)")
def content_type(ctx, ex):
    """The response's Content-Type fits the response_format asked for (JSON formats JSON, text/srt/vtt text)."""
    fmt = ctx.params["format"]
    allowed = MEDIA_TYPES[fmt]
    require(ex.content_type in allowed, f"response_format {fmt!r} was served as {ex.content_type or 'no Content-Type'!r}, expected {' or '.join(allowed)}")


@check("transcriptions.json.schema", source="openapi: #/components/schemas/CreateTranscriptionResponseJson")
def json_schema(ctx, ex):
    """response_format json: the body is {"text": string}, valid against CreateTranscriptionResponseJson."""
    body = json_object(ex)
    errors = ctx.schema_errors("CreateTranscriptionResponseJson", body)
    require(not errors, "not a CreateTranscriptionResponseJson: " + "; ".join(errors))
    require(isinstance(body.get("text"), str), f"'text' must be a string: {short(body)}")


@check("transcriptions.text.bare", source="openapi: #/components/schemas/AudioResponseFormat (text: the bare transcript)")
def text_bare(ctx, ex):
    """response_format text: the body is the bare transcript, not JSON and not subtitles."""
    body = wire_text(ex).strip()
    require(body, "the body is empty")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    require(not isinstance(parsed, (dict, list, str)), f"the body is JSON, not bare text: {short(body)}")
    require("-->" not in body and not body.startswith("WEBVTT"), f"the body carries subtitle timings: {short(body)}")


@check("transcriptions.srt.syntax", source="openapi: #/components/schemas/AudioResponseFormat (srt: SubRip cues)")
def srt_syntax(ctx, ex):
    """response_format srt: numbered cues 'HH:MM:SS,mmm --> HH:MM:SS,mmm' + text, in order, within the clip."""
    cues = parse_srt(wire_text(ex))
    check_timeline([(c.start, c.end) for c in cues], ctx.params["duration"], "cue")
    return f"{len(cues)} cue(s)"


@check("transcriptions.vtt.syntax", source="openapi: #/components/schemas/AudioResponseFormat (vtt: a WebVTT document)")
def vtt_syntax(ctx, ex):
    """response_format vtt: a WEBVTT header, then cues '[HH:]MM:SS.mmm --> …' + text, in order, within the clip."""
    cues = parse_vtt(wire_text(ex))
    check_timeline([(c.start, c.end) for c in cues], ctx.params["duration"], "cue")
    return f"{len(cues)} cue(s)"


@check("transcriptions.verbose_json.schema", source="openapi: #/components/schemas/CreateTranscriptionResponseVerboseJson")
def verbose_schema(ctx, ex):
    """response_format verbose_json: language, duration, text and segments, valid against the spec; task, when sent, "transcribe"."""
    body = json_object(ex)
    errors = ctx.schema_errors("CreateTranscriptionResponseVerboseJson", body)
    require(not errors, "not a CreateTranscriptionResponseVerboseJson: " + "; ".join(errors))
    # `task` is only in the spec's example, not among its properties: vLLM leaves it out.
    require(body.get("task", "transcribe") == "transcribe", f"'task' must be \"transcribe\" when sent, got {short(body.get('task'))}")
    require(isinstance(body.get("language"), str) and body["language"].strip(), f"'language' must be a non-empty string, got {short(body.get('language'))}")
    require(isinstance(body.get("text"), str), f"'text' must be a string, got {short(body.get('text', '(missing)'))}")
    require(isinstance(body.get("segments"), list) and body["segments"], f"'segments' must be a non-empty array, got {short(body.get('segments', '(missing)'))}")


@check("transcriptions.verbose_json.duration", source="openapi: #/components/schemas/CreateTranscriptionResponseVerboseJson/properties/duration (the duration of the input audio)")
def verbose_duration(ctx, ex):
    """verbose_json: 'duration' is the clip's length in seconds (within 0.5 s)."""
    duration = json_object(ex).get("duration")
    expected = ctx.params["duration"]
    require(isinstance(duration, (int, float)) and not isinstance(duration, bool), f"'duration' must be a number of seconds, got {short(duration)}")
    require(abs(duration - expected) <= DURATION_SLACK, f"'duration' is {duration} s, the clip lasts {expected:.3f} s")


def _segments(ex) -> list[dict]:
    segments = json_object(ex).get("segments")
    require(isinstance(segments, list) and segments, f"'segments' must be a non-empty array, got {short(segments)}")
    require(all(isinstance(s, dict) for s in segments), f"every segment must be an object: {short(segments)}")
    return segments


@check("transcriptions.verbose_json.segments_timeline", source="openapi: #/components/schemas/TranscriptionSegment (start and end of each segment in seconds)")
def segments_timeline(ctx, ex):
    """verbose_json segments: increasing ids, start < end, in order without overlap, within the clip's duration."""
    segments = _segments(ex)
    ids = [s.get("id") for s in segments]
    require(all(isinstance(i, int) for i in ids) and all(b > a for a, b in zip(ids, ids[1:])), f"segment ids must be increasing integers, got {ids}")
    spans = [(s.get("start"), s.get("end")) for s in segments]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for span in spans for v in span)
    require(numeric, f"segment start/end must be numbers of seconds: {short(spans)}")
    check_timeline(spans, ctx.params["duration"], "segment")
    return f"{len(segments)} segment(s)"


@check("transcriptions.verbose_json.segments_match_text", source="openapi: #/components/schemas/CreateTranscriptionResponseVerboseJson/properties/segments (segments of the transcribed text)")
def segments_match_text(ctx, ex):
    """verbose_json: the segments' texts, joined in order, are the response's 'text' (whitespace aside)."""
    segments = _segments(ex)
    texts = [s.get("text") for s in segments]
    require(all(isinstance(t, str) for t in texts), f"every segment text must be a string: {short(texts)}")
    joined, text = " ".join(" ".join(texts).split()), " ".join(str(json_object(ex).get("text")).split())
    require(joined == text, f"the segments say {short(joined)} but 'text' is {short(text)}")


@check("transcriptions.transcript.matches_audio", semantic=True, source="profile: endpoints.transcriptions.features core (the transcript is the clip's speech)")
def matches_audio(ctx, ex):
    """The transcript is the clip's speech: word error rate at most max_wer (0.3) against what is said, key words present."""
    heard = words(transcript(ctx, ex))
    said = words(ctx.params["text"])
    rate = word_error_rate(said, heard)
    missing = [w for w in ctx.params["words"] if w.lower() not in heard]
    require(not missing, f"the transcript {short(' '.join(heard))} lacks the spoken word(s) {missing}")
    limit = ctx.params.get("max_wer", 0.3)
    require(rate <= limit, f"word error rate {rate:.2f} > {limit} against {ctx.params['text']!r}: heard {short(' '.join(heard))}")
    return f"word error rate {rate:.2f}"
