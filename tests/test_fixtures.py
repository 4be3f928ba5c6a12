"""fixtures/: the generated files are up to date, and images/manifest.json describes them truly."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageStat, PdfParser

from conformance.server import vision

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GENERATOR = FIXTURES / "generate.py"
IMAGES = FIXTURES / "images"
MANIFEST = json.loads((IMAGES / "manifest.json").read_text())
ENTRIES = MANIFEST["images"]
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
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


def run_generator(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


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
    committed = {p.relative_to(FIXTURES): p.read_bytes() for p in IMAGES.iterdir()}
    assert first == second == committed


def test_check_reports_changed_missing_and_unexpected_files(tmp_path):
    shutil.copytree(IMAGES, tmp_path / "images")
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
