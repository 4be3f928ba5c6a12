"""Audio input (``input_audio`` content parts): reading, checking and "hearing" the audio.

Two steps, as docs/REFERENCE_MODEL.md ("Audio") orders them:

1. ``parse_input_audio`` checks the part's shape with the rest of the request body (``data`` and
   ``format`` are strings).
2. ``load`` (after the model lookup and its ``audio`` check, so a model without audio always
   answers ``model_not_supported``) decodes the base64 ``data``, checks that ``format`` is wav or
   mp3 and matches the bytes, decodes them with miniaudio to 16 kHz mono 16-bit PCM and recognises
   the speech with pocketsphinx (its default en-us model, shipped inside the wheel: nothing is
   downloaded). The transcript and the clip's length (for the prompt tokens) are kept on the part.

Every refusal is a 400 ``invalid_value`` whose param is the part's ``messages[i].content[j].input_audio``.
Loading blocks (decoding, recognition): async callers run it with ``load_all_async`` in the threadpool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import miniaudio
from pocketsphinx import Decoder
from starlette.concurrency import run_in_threadpool

from .errors import APIError, invalid_value, missing_required
from .validation import expect_object, expect_string

#: The formats accepted (OpenAI's ``input_audio.format`` enum).
FORMATS = ("wav", "mp3")
SUPPORTED = "send wav or mp3 audio"
#: What recognition works on: mono 16-bit PCM at this rate (pocketsphinx's en-us model).
SAMPLE_RATE = 16_000
#: Prompt tokens: one per 80 ms of audio, a started 80 ms counting whole (1280 samples at 16 kHz).
TOKEN_MS = 80
SAMPLES_PER_TOKEN = SAMPLE_RATE * TOKEN_MS // 1000
#: Largest clip accepted: as bytes (decoded from base64) and as duration.
MAX_BYTES = 25 * 1024 * 1024
MAX_SECONDS = 30 * 60
#: Seed of pocketsphinx's dither (noise of half a bit added before feature extraction).
DITHER_SEED = 1
#: Recognised clips remembered (by their PCM's hash).
CACHE_SIZE = 64

_WHITESPACE = re.compile(rb"\s+")


@dataclass(eq=False)
class AudioInput:
    """One ``input_audio`` part: its base64 data and declared format, and (once loaded) what it says."""

    data: str
    format: str
    #: ``messages[i].content[j].input_audio``: the param of every refusal of this clip.
    param: str
    transcript: str | None = None
    #: Length of the decoded clip in samples at SAMPLE_RATE (None until loaded).
    samples: int | None = None

    @property
    def loaded(self) -> bool:
        return self.transcript is not None

    @property
    def tokens(self) -> int:
        """Prompt tokens of the clip: ceil(duration / 80 ms). Loads it (blocking) if needed."""
        load(self)
        return -(-(self.samples or 0) // SAMPLES_PER_TOKEN)


def parse_input_audio(part: dict[str, Any], param: str) -> AudioInput:
    """The shape of ``{"type": "input_audio", "input_audio": {"data": str, "format": str}}``.

    The format's value is checked when the audio is loaded (after the model's capability).
    """
    if part.get("input_audio") is None:
        raise missing_required(f"{param}.input_audio")
    body = expect_object(part["input_audio"], f"{param}.input_audio")
    for name in ("data", "format"):
        if body.get(name) is None:
            raise missing_required(f"{param}.input_audio.{name}")
    data = expect_string(body["data"], f"{param}.input_audio.data")
    fmt = expect_string(body["format"], f"{param}.input_audio.format")
    return AudioInput(data=data, format=fmt, param=f"{param}.input_audio")


def refused(audio: AudioInput, detail: str) -> APIError:
    return invalid_value(audio.param, detail)


# --- reading and identifying the bytes -----------------------------------------------------------


def read(audio: AudioInput) -> bytes:
    """The clip's bytes (base64-decoded), once its declared format is one accepted."""
    if audio.format not in FORMATS:
        raise refused(audio, f"the format '{audio.format}' is not supported: {SUPPORTED} ('format': 'wav' or 'mp3').")
    encoded = _WHITESPACE.sub(b"", audio.data.encode("ascii", "replace"))
    if len(encoded) > (MAX_BYTES // 3 + 1) * 4:
        raise refused(audio, f"the audio is larger than {MAX_BYTES} bytes.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        hint = " (send the bare base64 data, not a data: URI)" if audio.data[:5].lower() == "data:" else ""
        raise refused(audio, f"the audio data is not valid base64{hint}.") from None
    if not data:
        raise refused(audio, "the audio data is empty.")
    return data


_MP3_BITRATES = {  # kbit/s by bitrate index (1..14), Layer III
    "1": (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "2": (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}


def _mp3_frame_length(header: bytes) -> int | None:
    """Bytes in the MPEG audio Layer III frame whose 4-byte header this is; None if it is not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = {0: "2.5", 2: "2", 3: "1"}.get((header[1] >> 3) & 3)
    layer_three = (header[1] >> 1) & 3 == 1
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version is None or not layer_three or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _MP3_BITRATES["1" if version == "1" else "2"][bitrate_index - 1] * 1000
    rate = _MP3_RATES[version][rate_index]
    return (144 if version == "1" else 72) * bitrate // rate + padding


def _is_mp3(data: bytes) -> bool:
    """An optional ID3v2 tag, then a Layer III frame header (and the next one, if there is more data)."""
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        start = 10 + size + (10 if data[5] & 0x10 else 0)
    length = _mp3_frame_length(data[start : start + 4])
    if length is None:
        return False
    following = start + length
    return following + 4 > len(data) or _mp3_frame_length(data[following : following + 4]) is not None


def identify(data: bytes) -> str | None:
    """``wav`` or ``mp3`` from the bytes themselves; None if neither."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if _is_mp3(data):
        return "mp3"
    return None


def sniff(data: bytes) -> str | None:
    """A name for a few other audio formats, for clearer refusals."""
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "Ogg"
    if data[4:8] == b"ftyp":
        return "MP4/M4A"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    return None


# --- decoding and hearing ------------------------------------------------------------------------


def decode(audio: AudioInput, data: bytes) -> bytes:
    """Check the bytes are the declared format and decode them to 16 kHz mono 16-bit PCM."""
    detected = identify(data)
    if detected is None:
        other = sniff(data)
        if other:
            raise refused(audio, f"{other} audio is not supported: {SUPPORTED}.")
        raise refused(audio, "the data is not WAV or MP3 audio, or could not be decoded.")
    if detected != audio.format:
        raise refused(audio, f"the format is declared '{audio.format}' but the data is {detected.upper()} audio.")
    try:
        sound = miniaudio.decode(
            data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=SAMPLE_RATE
        )
    except Exception:  # noqa: BLE001 - miniaudio.DecodeError, or worse on corrupt data
        raise refused(audio, f"the {detected.upper()} audio could not be decoded.") from None
    if sound.num_frames == 0:
        raise refused(audio, "the audio contains no samples.")
    if sound.num_frames > MAX_SECONDS * SAMPLE_RATE:
        raise refused(audio, f"the audio is longer than {MAX_SECONDS} seconds.")
    return sound.samples.tobytes()


class _Recogniser:
    """One pocketsphinx decoder (default en-us model), created on first use and shared under a lock.

    Dither is on: without it, exact digital silence gives NaN features and made-up words. Its
    generator is seeded with DITHER_SEED again for every clip (``reinit_feat``), which also forgets
    the previous clip's noise and cepstral-mean estimates: the same audio gives the same words.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoder: Decoder | None = None
        #: Words by the PCM's SHA-256 (recognition is deterministic, see above), least recently used
        #: dropped beyond CACHE_SIZE: the same clip sent again is not heard again (~1 s each).
        self._heard: OrderedDict[str, str] = OrderedDict()

    def __call__(self, pcm: bytes) -> str:
        key = hashlib.sha256(pcm).hexdigest()
        with self._lock:
            if key in self._heard:
                self._heard.move_to_end(key)
                return self._heard[key]
        words = self.hear(pcm)
        with self._lock:
            self._heard[key] = words
            while len(self._heard) > CACHE_SIZE:
                self._heard.popitem(last=False)
        return words

    def hear(self, pcm: bytes) -> str:
        """Recognise ``pcm`` with the decoder (uncached)."""
        with self._lock:
            if self._decoder is None:
                self._decoder = Decoder(loglevel="FATAL", dither=True, seed=DITHER_SEED)
            decoder = self._decoder
            decoder.reinit_feat()
            decoder.start_utt()
            decoder.process_raw(pcm, no_search=False, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
        return " ".join(hypothesis.hypstr.split()) if hypothesis is not None else ""


#: Words spoken in 16 kHz mono 16-bit PCM, lower case, single spaces ("" when none are recognised).
recognise = _Recogniser()


def load(audio: AudioInput) -> str:
    """Read, check and hear ``audio`` once (blocking); its transcript. Raises the 400 refusal."""
    if audio.transcript is None:
        pcm = decode(audio, read(audio))
        audio.samples = len(pcm) // 2
        audio.transcript = recognise(pcm)
    return audio.transcript


def load_all(clips: Iterable[AudioInput]) -> None:
    """Load every clip not loaded yet, in order (the first refusal wins)."""
    for audio in clips:
        load(audio)


async def load_all_async(clips: Iterable[AudioInput]) -> None:
    """``load_all`` in the threadpool, so decoding and recognition never block the event loop."""
    pending = [audio for audio in clips if not audio.loaded]
    if pending:
        await run_in_threadpool(load_all, pending)
