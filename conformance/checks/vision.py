"""Checks on image input: formats refused as documented, the per-request limit, answers that see the image."""

from __future__ import annotations

from ..vocabulary import UNSUPPORTED_OK
from . import check, require, short
from .chat import first_content, normalise
from .errors import _refused


@check("chat.vision.describes_image", semantic=True, source="profile: endpoints.chat.features vision (answers depend on the image)")
def describes_image(ctx, ex):
    """The answer names what the images show (their colours, in order): it depends on the image."""
    content = normalise(first_content(ex))
    words = content.split()
    positions = []
    for colour in ctx.params["colours"]:
        require(colour in words, f"the answer {short(first_content(ex))} does not name the colour {colour!r}")
        positions.append(words.index(colour))
    require(positions == sorted(positions), f"the colours are named out of order in {short(first_content(ex))}; expected {ctx.params['colours']}")


@check("chat.vision.format_refused", passing_status=UNSUPPORTED_OK, source="profile: endpoints.chat.features vision (the documented formats are PNG, JPEG, WEBP and non-animated GIF; others are refused)")
def format_refused(ctx, ex):
    """An image in an unsupported format (SVG, PDF, animated GIF) is refused with a 4xx, not answered."""
    _refused(ex, None, f"an image in {ctx.params.get('format', 'an unsupported format')}")
    return f"refused with {ex.status}"


@check("chat.vision.image_limit_enforced", source="profile: limits.images_per_request")
def image_limit_enforced(ctx, ex):
    """More images than the documented per-request limit are refused with a 4xx."""
    _refused(ex, None, f"a request with more images than the documented limit ({ctx.params.get('limit')})")
