"""Hearing an uploaded audio file: its format, its duration, and its speech cut into timed segments.

The file is identified by its bytes (never its name), decoded with miniaudio to 16 kHz mono 16-bit
PCM, cut at pauses by an energy detector, and each stretch of speech is recognised on its own by
the shared pocketsphinx recogniser of ``audio``. Results are cached by the file's SHA-256, so the
same upload is heard once. Everything here blocks: the endpoint runs it in the threadpool.
"""

from __future__ import annotations

import array
import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import miniaudio

from . import audio, profile
from .errors import APIError, invalid_value

#: The upload formats accepted, as the provider documents them (mpeg/mpga are MP3, oga is Ogg).
FILE_TYPES = tuple(profile.endpoint_property("transcriptions", "file_types"))
MAX_BYTES = 25 * 1024 * 1024
#: Energy detector: 10 ms frames; a frame is speech when its RMS reaches VOICE_RMS (about -40 dBFS).
FRAME = audio.SAMPLE_RATE // 100
VOICE_RMS = 300
#: A pause of at least this many silent frames ends a segment; shorter bursts of speech are dropped.
MIN_PAUSE_FRAMES = 50
MIN_SPEECH_FRAMES = 10
#: Audio kept on each side of a stretch of speech when it is recognised.
PAD_FRAMES = 20
#: Transcripts kept in memory (by the upload's SHA-256).
CACHE_SIZE = 64


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    duration: float
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)


def refused(detail: str) -> APIError:
    return invalid_value("file", detail)


def identify(data: bytes) -> str:
    """The upload's format from its bytes: wav, mp3, flac or ogg; else a 400 naming ``file``."""
    known = audio.identify(data)
    if known:
        return known
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    supported = ", ".join(FILE_TYPES)
    other = audio.sniff(data)
    if other:
        raise refused(f"{other} files are not supported. Supported formats: {supported}.")
    raise refused(f"the file is not audio in a supported format ({supported}).")


def decode(data: bytes) -> array.array:
    """The upload as 16 kHz mono 16-bit samples; a 400 naming ``file`` when it cannot be used."""
    if not data:
        raise refused("the file is empty.")
    if len(data) > MAX_BYTES:
        raise refused(f"the file is larger than {MAX_BYTES} bytes.")
    kind = identify(data)
    try:
        sound = miniaudio.decode(
            data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=audio.SAMPLE_RATE
        )
    except Exception:  # noqa: BLE001 - miniaudio.DecodeError, or worse on corrupt data
        raise refused(f"the {kind.upper()} file could not be decoded.") from None
    if sound.num_frames == 0:
        raise refused("the audio contains no samples.")
    if sound.num_frames > audio.MAX_SECONDS * audio.SAMPLE_RATE:
        raise refused(f"the audio is longer than {audio.MAX_SECONDS} seconds.")
    return sound.samples


def speech_spans(samples: array.array) -> list[tuple[int, int]]:
    """(first, last + 1) frame index of each stretch of speech, split at pauses of MIN_PAUSE_FRAMES."""
    voiced = []
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        frame = samples[start : start + FRAME]
        voiced.append(math.sqrt(sum(x * x for x in frame) / FRAME) >= VOICE_RMS)
    spans: list[tuple[int, int]] = []
    first = last = None
    for index, loud in enumerate(voiced):
        if not loud:
            continue
        if first is not None and index - last > MIN_PAUSE_FRAMES:
            spans.append((first, last + 1))
            first = None
        if first is None:
            first = index
        last = index
    if first is not None:
        spans.append((first, last + 1))
    return [(a, b) for a, b in spans if b - a >= MIN_SPEECH_FRAMES]


def sentence(words: str) -> str:
    """Recognised words as a sentence: first letter capitalised, a full stop at the end."""
    return words[:1].upper() + words[1:] + "."


def _hear(data: bytes) -> Transcript:
    samples = decode(data)
    frames = len(samples) // FRAME
    segments = []
    for first, end in speech_spans(samples):
        lo, hi = max(0, first - PAD_FRAMES), min(frames, end + PAD_FRAMES)
        words = audio.recognise(samples[lo * FRAME : hi * FRAME].tobytes())
        if words:
            segments.append(Segment(first / 100, end / 100, sentence(words)))
    return Transcript(round(len(samples) / audio.SAMPLE_RATE, 3), tuple(segments))


class _Cache:
    """Transcripts by the upload's SHA-256, least recently used dropped beyond CACHE_SIZE."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Transcript] = OrderedDict()

    def __call__(self, data: bytes) -> Transcript:
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        transcript = _hear(data)
        with self._lock:
            self._items[key] = transcript
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)
        return transcript


#: The transcript of an uploaded file (blocking; cached). Raises the 400 refusal naming ``file``.
transcribe = _Cache()
