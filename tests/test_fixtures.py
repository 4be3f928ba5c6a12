"""fixtures/: the generated files are up to date, and images/ and audio/ manifests describe them truly."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import miniaudio
import pytest
from PIL import Image, ImageStat, PdfParser

from conformance.server import audio, vision

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GENERATOR = FIXTURES / "generate.py"
IMAGES = FIXTURES / "images"
MANIFEST = json.loads((IMAGES / "manifest.json").read_text())
ENTRIES = MANIFEST["images"]
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
AUDIO = FIXTURES / "audio"
AUDIO_MANIFEST = json.loads((AUDIO / "manifest.json").read_text())
AUDIO_ENTRIES = AUDIO_MANIFEST["files"]
#: Clips only the transcription cases upload (their own manifest, so chat audio cases do not multiply).
TRANSCRIPTION_ENTRIES = json.loads((AUDIO / "transcriptions.json").read_text())["files"]
#: Whether this machine can regenerate the audio (else --check only checks the clips' presence).
CAN_GENERATE_AUDIO = shutil.which("espeak-ng") is not None and importlib.util.find_spec("lameenc") is not None
EXTENSIONS = {
    ".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif",
    ".svg": "image/svg+xml", ".pdf": "application/pdf",
}  # fmt: skip


def _generator():
    spec = importlib.util.spec_from_file_location("fixtures_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def run_generator(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=env
    )


def without_espeak(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH finds no espeak-ng (the generator runs as sys.executable)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return {**os.environ, "PATH": str(empty)}


# --- the generator ---------------------------------------------------------------------------------


def test_committed_fixtures_are_up_to_date(tmp_path):
    result = run_generator("--check", cwd=tmp_path)  # from anywhere: it finds the folder beside it
    assert result.returncode == 0, result.stderr


def test_generation_is_deterministic(tmp_path):
    for run in ("first", "second"):
        result = run_generator("--root", str(tmp_path / run), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    first = {p.relative_to(tmp_path / "first"): p.read_bytes() for p in (tmp_path / "first").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "second"): p.read_bytes() for p in (tmp_path / "second").rglob("*") if p.is_file()}
    committed = {p.relative_to(FIXTURES): p.read_bytes() for folder in (IMAGES, AUDIO) for p in folder.iterdir()}
    if CAN_GENERATE_AUDIO:  # espeak-ng, resampling, noise and LAME: the same bytes twice, and as committed
        assert first == second == committed
    else:  # the clips are not written; everything else is
        clips = {Path("audio", entry["file"]) for entry in AUDIO_ENTRIES + TRANSCRIPTION_ENTRIES}
        assert first == second == {path: data for path, data in committed.items() if path not in clips}


@pytest.mark.skipif(not CAN_GENERATE_AUDIO, reason="espeak-ng or lameenc not installed")
def test_espeak_ng_renders_the_same_bytes_every_time():
    generator = _generator()
    first, second = generator.synthesise(generator.SPEECH), generator.synthesise(generator.SPEECH)
    assert first == second and len(first[1]) > first[0]  # more than a second of speech


def test_check_reports_changed_missing_and_unexpected_files(tmp_path):
    shutil.copytree(IMAGES, tmp_path / "images")
    shutil.copytree(AUDIO, tmp_path / "audio")
    assert run_generator("--check", "--root", str(tmp_path), cwd=tmp_path).returncode == 0
    (tmp_path / "images" / "red.png").write_bytes(b"changed")
    (tmp_path / "images" / "vector.svg").unlink()
    (tmp_path / "images" / "stray.png").write_bytes(b"")
    result = run_generator("--check", "--root", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    for line in ("differs: images/red.png", "missing: images/vector.svg", "unexpected: images/stray.png"):
        assert line in result.stderr
    assert run_generator("--root", str(tmp_path), cwd=tmp_path).returncode == 0  # rewrites the two
    assert "unexpected: images/stray.png" in run_generator("--check", "--root", str(tmp_path), cwd=tmp_path).stderr


def test_check_without_espeak_ng_notes_it_and_checks_the_clips_presence_and_format(tmp_path):
    shutil.copytree(IMAGES, tmp_path / "images")
    shutil.copytree(AUDIO, tmp_path / "audio")
    env = without_espeak(tmp_path)
    result = run_generator("--check", "--root", str(tmp_path), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "note: espeak-ng" in result.stdout and "audio/hello.wav" in result.stdout
    (tmp_path / "audio" / "hello.wav").write_bytes(b"RIFF but not really")
    (tmp_path / "audio" / "hello.mp3").unlink()
    (tmp_path / "audio" / "stray.ogg").write_bytes(b"")
    result = run_generator("--check", "--root", str(tmp_path), cwd=tmp_path, env=env)
    assert result.returncode == 1
    for line in ("not a WAV file: audio/hello.wav", "missing: audio/hello.mp3", "unexpected: audio/stray.ogg"):
        assert line in result.stderr
    written = run_generator("--root", str(tmp_path), cwd=tmp_path, env=env)  # writing skips the clips too
    assert written.returncode == 0 and "note: espeak-ng" in written.stderr
    assert (tmp_path / "audio" / "hello.wav").read_bytes() == b"RIFF but not really"


def test_palette_is_the_reference_models():
    doc = (ROOT / "docs" / "REFERENCE_MODEL.md").read_text().split("## Images", 1)[1]
    documented = [(name, tuple(map(int, rgb))) for name, *rgb in re.findall(r"(\w+) \((\d+),\s*(\d+),\s*(\d+)\)", doc)]
    assert documented == list(vision.PALETTE) == list(_generator().PALETTE.items())


# --- the manifest ------------------------------------------------------------------------------------


def test_manifest_lists_exactly_the_files():
    listed = [entry["file"] for entry in ENTRIES]
    assert len(listed) == len(set(listed))
    assert sorted(listed + ["manifest.json"]) == sorted(p.name for p in IMAGES.iterdir())


def test_manifest_entries_are_well_formed():
    palette = dict(vision.PALETTE)
    for entry in ENTRIES:
        assert set(entry) >= {"file", "media_type", "colour", "accepted"}, entry
        assert isinstance(entry["accepted"], bool)
        assert entry["media_type"] == EXTENSIONS[Path(entry["file"]).suffix]
        if entry["accepted"]:
            assert entry["colour"] in palette, entry
        else:
            assert entry["colour"] is None, entry
    names = {entry["file"] for entry in ENTRIES}
    required = {"red.png", "green.jpg", "blue.webp", "yellow.gif", "orange.png", "purple.png", "animated.gif", "vector.svg", "document.pdf"}
    assert required <= names


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["accepted"]], ids=lambda e: e["file"])
def test_accepted_images_decode_to_their_colour(entry):
    with Image.open(IMAGES / entry["file"]) as picture:
        assert picture.format == PILLOW_FORMATS[entry["media_type"]]
        assert picture.size == (64, 64) == (entry["width"], entry["height"])
        assert getattr(picture, "n_frames", 1) == 1
        mean = ImageStat.Stat(picture.convert("RGB")).mean
    exact = dict(vision.PALETTE)[entry["colour"]]
    tolerance = 3 if entry["media_type"] == "image/jpeg" else 0  # JPEG is lossy
    assert all(abs(m - e) <= tolerance for m, e in zip(mean, exact)), (mean, exact)
    assert vision.nearest_colour(mean) == entry["colour"]


def test_animated_gif_has_two_looping_frames():
    with Image.open(IMAGES / "animated.gif") as picture:
        assert picture.format == "GIF" and picture.is_animated and picture.n_frames == 2
        assert picture.info.get("loop") == 0  # forever
        colours = []
        for frame in range(2):
            picture.seek(frame)
            colours.append(vision.nearest_colour(ImageStat.Stat(picture.convert("RGB")).mean))
    assert colours == ["red", "blue"]


def test_svg_is_a_red_rectangle():
    root = ET.fromstring((IMAGES / "vector.svg").read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    rect = root.find("{http://www.w3.org/2000/svg}rect")
    assert rect is not None and rect.get("fill") == "#dc1e1e"


def test_pdf_is_a_valid_one_page_document():
    data = (IMAGES / "document.pdf").read_bytes()
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    parser = PdfParser.PdfParser(str(IMAGES / "document.pdf"))
    try:
        assert len(parser.pages) == 1
        page = parser.read_indirect(parser.pages[0])
        assert page[b"MediaBox"] == [0, 0, 64, 64]
        for number in range(1, 5):  # every xref offset points at its object
            offset, _generation = parser.xref_table[number]
            assert data[offset:].startswith(b"%d 0 obj" % number)
    finally:
        parser.close()


# --- audio/ ------------------------------------------------------------------------------------------


def test_audio_manifest_lists_exactly_the_files():
    listed = [entry["file"] for entry in AUDIO_ENTRIES + TRANSCRIPTION_ENTRIES]
    assert sorted(listed + ["manifest.json", "transcriptions.json"]) == sorted(p.name for p in AUDIO.iterdir())
    assert sorted(entry["format"] for entry in AUDIO_ENTRIES) == ["mp3", "wav"]


def test_audio_manifest_entries_are_well_formed_and_the_generators():
    speech = _generator().SPEECH
    for entry in AUDIO_ENTRIES:
        assert set(entry) >= {"file", "format", "words", "text"}, entry
        assert Path(entry["file"]).suffix == "." + entry["format"]
        assert entry["text"] == speech.text and tuple(entry["words"]) == speech.words
        spoken = re.findall(r"[a-z']+", entry["text"].lower())
        assert entry["words"] and all(word in spoken for word in entry["words"]), entry


@pytest.mark.parametrize("entry", AUDIO_ENTRIES, ids=lambda e: e["file"])
def test_audio_clips_are_small_and_decode_to_about_two_seconds(entry):
    data = (AUDIO / entry["file"]).read_bytes()
    assert len(data) < 100_000
    assert audio.identify(data) == entry["format"]
    sound = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16_000)
    assert 1.5 < sound.duration < 3.0
    assert max(abs(sample) for sample in sound.samples) > 10_000  # speech, not silence


def test_wav_clip_is_16_khz_mono_16_bit():
    with wave.open(str(AUDIO / "hello.wav")) as clip:
        shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate(), clip.getcomptype())
    assert shape == (1, 2, 16_000, "NONE")


def test_mp3_clip_is_16_khz_mono():
    info = miniaudio.mp3_get_info((AUDIO / "hello.mp3").read_bytes())
    assert (info.nchannels, info.sample_rate) == (1, 16_000)
