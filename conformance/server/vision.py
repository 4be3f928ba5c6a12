"""Image input (``image_url`` content parts): reading, checking and "seeing" the images.

Two steps, as docs/REFERENCE_MODEL.md ("Images") orders them:

1. ``parse_image_url`` checks the part's shape with the rest of the request body (types, ``detail``).
2. ``load`` (after the model lookup and its ``vision`` check, so a model without vision always
   answers ``model_not_supported``) reads the bytes — a ``data:image/<png|jpeg|webp|gif>;base64,``
   URI, or an http(s) URL fetched with a 5 s timeout — decodes them with Pillow, refuses what the
   contract refuses, and names the image's colour: the palette entry nearest its mean colour.

Every refusal is a 400 ``invalid_value`` whose param is the part's ``messages[i].content[j].image_url``.
Loading blocks (network, decoding): async callers run it with ``load_all_async`` in the threadpool.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from PIL import Image, ImageStat, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from . import profile
from .errors import APIError, invalid_value, missing_required
from .validation import expect_choice, expect_object, expect_string

#: At most this many images in one request (over all messages): more → 400 with param ``messages``.
MAX_IMAGES = profile.limit("images_per_request")
#: Prompt tokens each image costs.
IMAGE_TOKENS = 85
#: Seconds allowed to connect to an image URL, for each read, and for the whole download.
FETCH_TIMEOUT = 5.0
#: Largest image accepted, as bytes (decoded from a data URI or downloaded) and as pixels.
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 25_000_000
USER_AGENT = "conformance-reference-server"

#: Pillow format -> the media type a data URI declares for it. The only formats accepted.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
DETAILS = ("auto", "low", "high")
SUPPORTED = "send PNG, JPEG, WEBP or non-animated GIF"
EXPECTED_URL = "a data URI 'data:image/<png|jpeg|webp|gif>;base64,<data>' or an http(s) URL"

#: The colours the reference model can name: (name, RGB), in the contract's order (ties go first).
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (220, 30, 30)),
    ("green", (30, 160, 50)),
    ("blue", (30, 60, 220)),
    ("yellow", (240, 210, 30)),
    ("orange", (245, 130, 20)),
    ("purple", (130, 40, 170)),
    ("black", (10, 10, 10)),
    ("white", (245, 245, 245)),
    ("grey", (128, 128, 128)),
)

_DATA_URI = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(?:;[^,;]*)*),(?P<data>.*)", re.IGNORECASE | re.DOTALL)
_WHITESPACE = re.compile(rb"\s+")


@dataclass(eq=False)
class ImageInput:
    """One ``image_url`` part: where its bytes are, and (once loaded) the colour name it shows."""

    url: str
    #: ``messages[i].content[j].image_url``: the param of every refusal of this image.
    param: str
    detail: str | None = None
    colour: str | None = None

    @property
    def loaded(self) -> bool:
        return self.colour is not None


def parse_image_url(part: dict[str, Any], param: str) -> ImageInput:
    """The shape of ``{"type": "image_url", "image_url": {"url": str, "detail"?: auto|low|high}}``."""
    if part.get("image_url") is None:
        raise missing_required(f"{param}.image_url")
    image_url = expect_object(part["image_url"], f"{param}.image_url")
    if image_url.get("url") is None:
        raise missing_required(f"{param}.image_url.url")
    url = expect_string(image_url["url"], f"{param}.image_url.url")
    detail = image_url.get("detail")
    if detail is not None:
        expect_choice(detail, f"{param}.image_url.detail", DETAILS)
    return ImageInput(url=url, param=f"{param}.image_url", detail=detail)


def refused(image: ImageInput, detail: str) -> APIError:
    return invalid_value(image.param, detail)


# --- reading the bytes ---------------------------------------------------------------------------


def _read_data_uri(image: ImageInput, match: re.Match[str]) -> tuple[bytes, str]:
    declared = match.group("type").strip().lower()
    params = [p.strip().lower() for p in match.group("params").split(";") if p.strip()]
    if declared not in FORMATS.values():
        shown = declared or "no media type"
        raise refused(image, f"the data URI's type '{shown}' is not supported: {SUPPORTED}, as {EXPECTED_URL}.")
    if "base64" not in params:
        raise refused(image, f"the data URI is not base64-encoded: expected {EXPECTED_URL}.")
    encoded = _WHITESPACE.sub(b"", match.group("data").encode("ascii", "replace"))
    if len(encoded) > (MAX_BYTES // 3 + 1) * 4:
        raise refused(image, f"the image is larger than {MAX_BYTES} bytes.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise refused(image, "the data URI's payload is not valid base64.") from None
    return data, declared


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch(image: ImageInput, url: str) -> bytes:
    host = urllib.parse.urlsplit(url).hostname or ""
    # Loopback URLs (fixtures served beside the suite) never go through a configured proxy.
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
    deadline = time.monotonic() + FETCH_TIMEOUT
    chunks: list[bytes] = []
    size = 0
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT) as response:
            while chunk := response.read(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BYTES:
                    raise refused(image, f"the image at the URL is larger than {MAX_BYTES} bytes.")
                if time.monotonic() > deadline:
                    raise refused(image, f"the image URL did not answer within {FETCH_TIMEOUT:g} s.")
    except urllib.error.HTTPError as exc:
        raise refused(image, f"fetching the image URL failed with HTTP status {exc.code}.") from None
    except urllib.error.URLError as exc:
        raise refused(image, f"the image URL could not be fetched ({exc.reason}).") from None
    except TimeoutError:
        raise refused(image, f"the image URL did not answer within {FETCH_TIMEOUT:g} s.") from None
    except (OSError, HTTPException, ValueError) as exc:
        raise refused(image, f"the image URL could not be fetched ({type(exc).__name__}: {exc}).") from None
    return b"".join(chunks)


def read(image: ImageInput) -> tuple[bytes, str | None]:
    """The image's bytes, and the media type its data URI declares (None for a URL)."""
    match = _DATA_URI.fullmatch(image.url)
    if image.url[:5].lower() == "data:":
        if match is None:
            raise refused(image, f"malformed data URI: expected {EXPECTED_URL}.")
        return _read_data_uri(image, match)
    parts = urllib.parse.urlsplit(image.url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise refused(image, f"expected {EXPECTED_URL}.")
    return _fetch(image, image.url), None


# --- decoding and seeing -------------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """A name for a few formats Pillow cannot open, for clearer refusals."""
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "PDF"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return None


def _identify(data: bytes) -> str | None:
    """The format Pillow would read ``data`` as (header only), None if unknown."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return other.format
    except Exception:  # noqa: BLE001 - any failure means "unknown"
        return None


def _open(image: ImageInput, data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(FORMATS))
    except UnidentifiedImageError:
        pass
    except Exception:  # noqa: BLE001 - a corrupt header of a supported format
        raise refused(image, "the image data could not be decoded.") from None
    found = _sniff(data) or _identify(data)
    if found:
        raise refused(image, f"{found} images are not supported: {SUPPORTED}.")
    raise refused(image, "the data is not a PNG, JPEG, WEBP or GIF image, or could not be decoded.")


def mean_colour(picture: Image.Image) -> tuple[float, float, float]:
    """The mean RGB of the (first frame of the) picture, transparent parts seen over white."""
    if picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        rgb = picture.convert("RGB")
    red, green, blue = ImageStat.Stat(rgb).mean
    return red, green, blue


def nearest_colour(rgb: Iterable[float]) -> str:
    """The palette name nearest ``rgb`` (Euclidean distance; ties go to the earlier entry)."""
    values = tuple(rgb)
    return min(PALETTE, key=lambda entry: sum((a - b) ** 2 for a, b in zip(values, entry[1])))[0]


def decode(image: ImageInput, data: bytes, declared: str | None) -> str:
    """Check the bytes are an accepted image (matching ``declared``, if any) and name its colour."""
    if not data:
        raise refused(image, "the image data is empty.")
    if len(data) > MAX_BYTES:
        raise refused(image, f"the image is larger than {MAX_BYTES} bytes.")
    with _open(image, data) as picture:
        detected = FORMATS[picture.format]
        if declared is not None and declared != detected:
            raise refused(image, f"the data URI declares '{declared}' but the data is {picture.format} ('{detected}').")
        if picture.width * picture.height > MAX_PIXELS:
            raise refused(image, f"the image is too large ({picture.width}x{picture.height} pixels).")
        try:
            if picture.format == "GIF" and getattr(picture, "n_frames", 1) > 1:
                raise refused(image, "animated GIF images are not supported: send a single-frame image.")
            picture.load()
            return nearest_colour(mean_colour(picture))
        except APIError:
            raise
        except Exception:  # noqa: BLE001 - Pillow raises many types on corrupt or truncated data
            raise refused(image, "the image data could not be decoded.") from None


def load(image: ImageInput) -> str:
    """Read, check and see ``image`` once (blocking); its colour name. Raises the 400 refusal."""
    if image.colour is None:
        data, declared = read(image)
        image.colour = decode(image, data, declared)
    return image.colour


def load_all(images: Iterable[ImageInput]) -> None:
    """Load every image not loaded yet, in order (the first refusal wins)."""
    for image in images:
        load(image)


async def load_all_async(images: Iterable[ImageInput]) -> None:
    """``load_all`` in the threadpool, so fetching and decoding never block the event loop."""
    pending = [image for image in images if not image.loaded]
    if pending:
        await run_in_threadpool(load_all, pending)
