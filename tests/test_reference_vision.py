"""The reference server's image input (docs/REFERENCE_MODEL.md, "Images"), with fixtures/images/."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app, vision
from conformance.server.messages import load_images, parse_messages

KEY = "sk-test-vision"
AUTH = {"Authorization": f"Bearer {KEY}"}
VISION_MODEL = "mistral-small-3.2-24b-instruct-2506"
TEXT_MODEL = "llama-3.3-70b-instruct"  # chat and tools, no vision
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
IMAGES = FIXTURES / "images"
QUESTION = "What is the colour of this image? Answer with one word."
PARAM = "messages[0].content[1].image_url"

MANIFEST = json.loads((IMAGES / "manifest.json").read_text())["images"]
ACCEPTED = [entry for entry in MANIFEST if entry["accepted"]]
REFUSED = [entry for entry in MANIFEST if not entry["accepted"]]
MEDIA_TYPES = {entry["file"]: entry["media_type"] for entry in MANIFEST}


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="module")
def fixtures_url() -> Iterator[str]:
    """Base URL of a static http server over fixtures/ on 127.0.0.1 (stopped after the module)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(FIXTURES)))
    thread = threading.Thread(target=server.serve_forever, name="vision-fixtures", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def data_uri(data: bytes | str, media_type: str | None = None) -> str:
    """A base64 data URI of raw bytes, or of a fixture file (with its manifest media type)."""
    if isinstance(data, str):
        media_type = media_type or MEDIA_TYPES[data]
        data = (IMAGES / data).read_bytes()
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def image_part(url: str, **extra) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def user_message(urls: list[str], text: str | None = QUESTION) -> dict:
    content = ([{"type": "text", "text": text}] if text is not None else []) + [image_part(u) for u in urls]
    return {"role": "user", "content": content}


def ask(client: TestClient, urls: list[str], text: str | None = QUESTION, *, model: str = VISION_MODEL, **params):
    body = {"model": model, "messages": [user_message(urls, text)], **params}
    return client.post("/v1/chat/completions", headers=AUTH, json=body)


def answer(response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("CreateChatCompletionResponse", body) == []
    return body["choices"][0]["message"]["content"]


def assert_refused(response, param: str = PARAM, code: str = "invalid_value", status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param), error
    assert param in error["message"]
    return error


def png_bytes(colour, mode: str = "RGB", size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


# --- accepted images: the answer names their colours ---------------------------------------------


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda e: e["file"])
def test_accepted_fixture_as_data_uri_answers_its_colour(client, entry):
    assert answer(ask(client, [data_uri(entry["file"])])) == entry["colour"].capitalize() + "."


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda e: e["file"])
def test_accepted_fixture_by_http_url_answers_its_colour(client, fixtures_url, entry):
    assert answer(ask(client, [f"{fixtures_url}/images/{entry['file']}"])) == entry["colour"].capitalize() + "."


def test_several_images_are_named_in_order(client, fixtures_url):
    urls = [data_uri("red.png"), f"{fixtures_url}/images/green.jpg", data_uri("blue.webp"), data_uri("yellow.gif")]
    assert answer(ask(client, urls, "What colour is each image?")) == "Red, Green, Blue, Yellow."
    urls.reverse()
    assert answer(ask(client, urls, "What colour is each image?")) == "Yellow, Blue, Green, Red."


def test_images_before_the_text_are_seen_too(client):
    message = {"role": "user", "content": [image_part(data_uri("purple.png")), {"type": "text", "text": QUESTION}]}
    body = {"model": VISION_MODEL, "messages": [message]}
    assert answer(client.post("/v1/chat/completions", headers=AUTH, json=body)) == "Purple."


@pytest.mark.parametrize("name, rgb", vision.PALETTE, ids=[name for name, _ in vision.PALETTE])
def test_every_palette_colour_is_named(client, name, rgb):
    assert answer(ask(client, [data_uri(png_bytes(rgb), "image/png")])) == name.capitalize() + "."


def test_nearest_palette_colour_of_the_mean():
    assert vision.nearest_colour((200, 50, 40)) == "red"
    assert vision.nearest_colour((250, 140, 0)) == "orange"
    assert vision.nearest_colour((0, 0, 0)) == "black"
    assert vision.nearest_colour((255, 255, 255)) == "white"
    assert vision.nearest_colour((120, 130, 125)) == "grey"


def test_mean_colour_half_and_half_and_transparency(client):
    picture = Image.new("RGB", (32, 32), (245, 245, 245))
    picture.paste((10, 10, 10), (0, 0, 32, 16))  # half black, half white: mean ~127 -> grey
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    assert answer(ask(client, [data_uri(buffer.getvalue(), "image/png")])) == "Grey."
    transparent = png_bytes((0, 0, 0, 0), mode="RGBA")  # fully transparent: seen over white
    assert answer(ask(client, [data_uri(transparent, "image/png")])) == "White."


@pytest.mark.parametrize("word", ["colour", "Color", "COLOUR"])
def test_colour_word_is_case_insensitive(client, word):
    assert answer(ask(client, [data_uri("red.png")], f"Which {word} is this?")) == "Red."


def test_without_the_colour_word_the_text_rules_apply(client):
    assert answer(ask(client, [data_uri("red.png")], "Describe this image.")) == "You said: Describe this image."
    assert answer(ask(client, [data_uri("red.png")], "Reply with exactly: seen")) == "seen"
    assert answer(ask(client, [data_uri("red.png")], text=None)) == "You said:"


def test_the_image_rule_comes_before_the_text_rules(client):
    text = "Reply with exactly: nothing\nWhat colour is it?"
    assert answer(ask(client, [data_uri("orange.png")], text)) == "Orange."


def test_only_the_last_user_message_images_are_described(client):
    messages = [
        user_message([data_uri("red.png")]),
        {"role": "assistant", "content": "Red."},
        user_message([data_uri("blue.webp"), data_uri("green.jpg")], "And the colour of these?"),
    ]
    body = {"model": VISION_MODEL, "messages": messages}
    assert answer(client.post("/v1/chat/completions", headers=AUTH, json=body)) == "Blue, Green."
    messages[2] = {"role": "user", "content": "What colour was it?"}
    assert answer(client.post("/v1/chat/completions", headers=AUTH, json=body)) == "You said: What colour was it?"


def test_detail_values_are_accepted(client):
    for detail in ("auto", "low", "high"):
        body = {"model": VISION_MODEL, "messages": [{"role": "user", "content": [
            {"type": "text", "text": QUESTION}, image_part(data_uri("red.png"), detail=detail)]}]}  # fmt: skip
        assert answer(client.post("/v1/chat/completions", headers=AUTH, json=body)) == "Red."


def test_streamed_answer_names_the_colours(client):
    response = ask(client, [data_uri("red.png"), data_uri("green.jpg")], stream=True)
    assert response.status_code == 200, response.text
    events = [line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Red, Green."


def test_request_bodies_sent_here_follow_openais_schema():
    body = {"model": VISION_MODEL, "messages": [user_message(["data:image/png;base64,AAAA", "https://example.com/a.png"])]}
    assert schema_errors("CreateChatCompletionRequest", body) == []


# --- usage -----------------------------------------------------------------------------------------


def test_each_image_adds_85_prompt_tokens(client):
    usages = [ask(client, [data_uri("red.png")] * count).json()["usage"] for count in range(4)]
    prompts = [usage["prompt_tokens"] for usage in usages]
    assert [b - a for a, b in zip(prompts, prompts[1:])] == [vision.IMAGE_TOKENS] * 3 == [85] * 3
    for usage in usages:
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_images_in_every_message_count_for_usage(client):
    messages = [user_message([data_uri("red.png")]), {"role": "assistant", "content": "Red."}, user_message([])]
    with_images = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    messages[0] = user_message([])
    without = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert with_images.json()["usage"]["prompt_tokens"] - without.json()["usage"]["prompt_tokens"] == 85


# --- refused images --------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", REFUSED, ids=lambda e: e["file"])
def test_refused_fixture_as_data_uri(client, entry):
    error = assert_refused(ask(client, [data_uri(entry["file"])]))
    assert "not supported" in error["message"]


@pytest.mark.parametrize("entry", REFUSED, ids=lambda e: e["file"])
def test_refused_fixture_declared_as_an_accepted_type_is_still_refused(client, entry):
    assert_refused(ask(client, [data_uri(entry["file"], "image/png")]))


@pytest.mark.parametrize("entry", REFUSED, ids=lambda e: e["file"])
def test_refused_fixture_by_http_url(client, fixtures_url, entry):
    error = assert_refused(ask(client, [f"{fixtures_url}/images/{entry['file']}"]))
    assert "not supported" in error["message"]


@pytest.mark.parametrize(
    "file, declared",
    [("red.png", "image/jpeg"), ("green.jpg", "image/png"), ("blue.webp", "image/gif"), ("yellow.gif", "image/webp")],
)
def test_declared_type_must_match_the_bytes(client, file, declared):
    error = assert_refused(ask(client, [data_uri(file, declared)]))
    assert declared in error["message"]


@pytest.mark.parametrize(
    "url",
    [
        data_uri(b"definitely not an image", "image/png"),
        data_uri((IMAGES / "red.png").read_bytes()[:200], "image/png"),  # truncated
        data_uri((IMAGES / "green.jpg").read_bytes()[:300], "image/jpeg"),  # truncated
        data_uri(b"", "image/png"),
        data_uri(png_bytes((220, 30, 30)), "image/jpg"),  # not the contract's type name
        data_uri(png_bytes((220, 30, 30)), "image/bmp"),
        data_uri(png_bytes((220, 30, 30)), ""),
        "data:image/png;base64,not*base64!",
        "data:image/png;base64,AAA",  # bad padding
        "data:image/png,%89PNG",  # not base64-encoded
        "data:image/png;base64",  # no comma
        "ftp://127.0.0.1/red.png",
        "file:///etc/hostname",
        "red.png",
        "",
        "https://",
    ],
    ids=[
        "garbage", "truncated-png", "truncated-jpeg", "empty", "image-jpg", "bmp-type", "no-type", "bad-base64",
        "bad-padding", "not-base64", "no-comma", "ftp", "file", "relative", "empty-url", "no-host",
    ],
)  # fmt: skip
def test_undecodable_or_malformed_images_are_refused(client, url):
    assert_refused(ask(client, [url]))


def test_other_formats_are_refused(client):
    for format, media_type in [("BMP", "image/png"), ("TIFF", "image/png")]:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (220, 30, 30)).save(buffer, format)
        error = assert_refused(ask(client, [data_uri(buffer.getvalue(), media_type)]))
        assert format in error["message"]


def test_unreachable_and_missing_urls_are_refused(client, fixtures_url):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert_refused(ask(client, [f"http://127.0.0.1:{port}/red.png"]))  # nothing listens there
    error = assert_refused(ask(client, [f"{fixtures_url}/images/no-such-file.png"]))
    assert "404" in error["message"]


def test_a_url_that_never_answers_times_out(client, monkeypatch):
    monkeypatch.setattr(vision, "FETCH_TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        error = assert_refused(ask(client, [f"http://127.0.0.1:{silent.getsockname()[1]}/red.png"]))
    assert "0.3 s" in error["message"] or "timed out" in error["message"]


def test_the_refused_image_is_named_by_its_position(client):
    messages = [
        user_message([data_uri("red.png")]),
        {"role": "assistant", "content": "Red."},
        {"role": "user", "content": [
            {"type": "text", "text": QUESTION}, image_part(data_uri("red.png")), image_part(data_uri("vector.svg"))]},
    ]  # fmt: skip
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert_refused(response, "messages[2].content[2].image_url")
    messages[0] = user_message([data_uri("animated.gif")])  # an earlier message is checked as well
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert_refused(response, "messages[0].content[1].image_url")


# --- the part's shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part, code, param",
    [
        ({"type": "image_url"}, "missing_required_parameter", "messages[0].content[1].image_url"),
        ({"type": "image_url", "image_url": None}, "missing_required_parameter", "messages[0].content[1].image_url"),
        ({"type": "image_url", "image_url": "data:image/png;base64,AAAA"}, "invalid_type", "messages[0].content[1].image_url"),
        ({"type": "image_url", "image_url": {}}, "missing_required_parameter", "messages[0].content[1].image_url.url"),
        ({"type": "image_url", "image_url": {"url": 5}}, "invalid_type", "messages[0].content[1].image_url.url"),
        ({"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "medium"}}, "invalid_value", "messages[0].content[1].image_url.detail"),
        ({"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": 1}}, "invalid_type", "messages[0].content[1].image_url.detail"),
    ],
)  # fmt: skip
def test_image_part_shape_errors(client, part, code, param):
    body = {"model": VISION_MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]}
    assert_refused(client.post("/v1/chat/completions", headers=AUTH, json=body), param, code)


@pytest.mark.parametrize("role", ["system", "developer", "assistant"])
def test_image_parts_only_in_user_messages(client, role):
    messages = [{"role": role, "content": [image_part(data_uri("red.png"))]}, {"role": "user", "content": "hi"}]
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert_refused(response, "messages[0].content[0].type")


# --- the per-request limit ---------------------------------------------------------------------------


def test_twelve_images_are_accepted(client):
    names = ["red.png", "green.jpg", "blue.webp", "yellow.gif", "orange.png", "purple.png"] * 2
    colours = {entry["file"]: entry["colour"] for entry in ACCEPTED}
    expected = ", ".join(colours[name].capitalize() for name in names) + "."
    assert answer(ask(client, [data_uri(name) for name in names])) == expected


def test_thirteen_images_are_refused(client):
    error = assert_refused(ask(client, [data_uri("red.png")] * 13), "messages")
    assert "12" in error["message"]


def test_the_limit_counts_every_message(client):
    messages = [
        user_message([data_uri("red.png")] * 7),
        {"role": "assistant", "content": "Red."},
        user_message([data_uri("red.png")] * 6),
    ]
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert_refused(response, "messages")
    messages[2] = user_message([data_uri("red.png")] * 5)
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": VISION_MODEL, "messages": messages})
    assert answer(response) == ", ".join(["Red"] * 5) + "."


# --- the model's capability ---------------------------------------------------------------------------


def test_model_without_vision_is_model_not_supported(client):
    error = assert_refused(ask(client, [data_uri("red.png")], model=TEXT_MODEL), "model", "model_not_supported")
    assert TEXT_MODEL in error["message"] and "vision" in error["message"]


def test_capability_is_checked_before_the_images_are_read(client, monkeypatch):
    def fail(image):
        raise AssertionError("images must not be read for a model without vision")

    monkeypatch.setattr(vision, "read", fail)
    assert_refused(ask(client, [data_uri("vector.svg")], model=TEXT_MODEL), "model", "model_not_supported")
    assert_refused(ask(client, ["http://127.0.0.1:1/x.png"], model="gpt-4o"), "model", "model_not_found", 404)


@pytest.mark.parametrize("model", ["pixtral-12b-2409", "gemma-3-27b-it"])
def test_every_vision_model_sees(client, model):
    assert answer(ask(client, [data_uri("blue.webp")], model=model)) == "Blue."


def test_text_only_requests_are_unchanged_for_models_without_vision(client):
    response = client.post(
        "/v1/chat/completions", headers=AUTH, json={"model": TEXT_MODEL, "messages": [{"role": "user", "content": "colour?"}]}
    )
    assert answer(response) == "You said: colour?"


# --- loading off the event loop --------------------------------------------------------------------


def test_load_images_reads_in_the_threadpool(fixtures_url, monkeypatch):
    seen = []
    real_read = vision.read

    def read(image):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return real_read(image)

    monkeypatch.setattr(vision, "read", read)
    messages = parse_messages([user_message([data_uri("red.png"), f"{fixtures_url}/images/orange.png"])])
    asyncio.run(load_images(messages))
    assert seen == ["worker thread", "worker thread"]
    assert [part.image.colour for part in messages[0].parts if part.type == "image_url"] == ["red", "orange"]
