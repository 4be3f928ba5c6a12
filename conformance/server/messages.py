"""Chat messages: role and content validation, with content-part types registered per role."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import audio, vision
from .catalog import AUDIO, VISION
from .errors import invalid_type, invalid_value, missing_required
from .model import Prompt
from .validation import expect_array, expect_choice, expect_object, expect_string

ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass(frozen=True)
class ContentPart:
    type: str
    #: The part's contribution to the prompt text (None for non-text parts).
    text: str | None = None
    #: Model capability needed to accept this part (e.g. "vision" for images), None if any chat model.
    capability: str | None = None
    #: Extra prompt tokens this part costs on top of its text (images, audio).
    extra_tokens: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def prompt_tokens(self) -> int:
        """Prompt tokens this part costs on top of its text."""
        return self.extra_tokens


@dataclass(frozen=True)
class Message:
    role: str
    #: None (assistant only), a string, or the validated parts.
    content: str | tuple[ContentPart, ...] | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text(self) -> str:
        """String content, or the text parts joined with newlines; "" for null content."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if part.text is not None)

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        return self.content if isinstance(self.content, tuple) else ()


#: Validates one part object (its ``type`` already checked) at ``param``; returns the parsed part.
PartParser = Callable[[dict[str, Any], str], ContentPart]


def _text_part(part: dict[str, Any], param: str) -> ContentPart:
    if part.get("text") is None:
        raise missing_required(f"{param}.text")
    return ContentPart("text", text=expect_string(part["text"], f"{param}.text"), raw=part)


@dataclass(frozen=True)
class ImagePart(ContentPart):
    """An ``image_url`` part; its image is read and checked later, by ``load_images``."""

    image: vision.ImageInput | None = field(default=None, compare=False)


def _image_part(part: dict[str, Any], param: str) -> ContentPart:
    image = vision.parse_image_url(part, param)
    return ImagePart("image_url", capability=VISION, extra_tokens=vision.IMAGE_TOKENS, raw=part, image=image)


@dataclass(frozen=True)
class AudioPart(ContentPart):
    """An ``input_audio`` part; its audio is decoded and recognised later, by ``load_audio``."""

    clip: audio.AudioInput | None = field(default=None, compare=False)

    def prompt_tokens(self) -> int:
        """One token per 80 ms of the clip (known once it is decoded; decoded here if needed)."""
        return self.extra_tokens + (self.clip.tokens if self.clip else 0)


def _audio_part(part: dict[str, Any], param: str) -> ContentPart:
    clip = audio.parse_input_audio(part, param)
    return AudioPart("input_audio", capability=AUDIO, raw=part, clip=clip)


#: Content-part parsers by ``type``. Add refusal parts here.
PART_PARSERS: dict[str, PartParser] = {"text": _text_part, "image_url": _image_part, "input_audio": _audio_part}

#: Part types each role may send (a subset of PART_PARSERS).
ROLE_PARTS: dict[str, tuple[str, ...]] = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio"),
    "assistant": ("text",),
    "tool": ("text",),
}

#: Roles whose content may be null or absent.
NULLABLE_CONTENT = frozenset({"assistant"})


def _parse_part(part: Any, role: str, param: str) -> ContentPart:
    part = expect_object(part, param)
    if part.get("type") is None:
        raise missing_required(f"{param}.type")
    part_type = expect_choice(part["type"], f"{param}.type", ROLE_PARTS[role])
    return PART_PARSERS[part_type](part, param)


def _parse_content(message: dict[str, Any], role: str, param: str) -> str | tuple[ContentPart, ...] | None:
    content = message.get("content")
    if content is None:
        if role in NULLABLE_CONTENT:
            return None
        raise missing_required(f"{param}.content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(f"{param}.content", "a string or an array of content parts", content)
    expect_array(content, f"{param}.content", min_items=1)
    return tuple(_parse_part(part, role, f"{param}.content[{i}]") for i, part in enumerate(content))


def parse_message(value: Any, param: str) -> Message:
    message = expect_object(value, param)
    if message.get("role") is None:
        raise missing_required(f"{param}.role")
    role = expect_choice(message["role"], f"{param}.role", ROLES)
    content = _parse_content(message, role, param)
    if message.get("name") is not None:
        expect_string(message["name"], f"{param}.name")
    if role == "tool":
        if message.get("tool_call_id") is None:
            raise missing_required(f"{param}.tool_call_id")
        expect_string(message["tool_call_id"], f"{param}.tool_call_id")
    return Message(role, content, raw=message)


def parse_messages(value: Any, param: str = "messages") -> tuple[Message, ...]:
    """Validate a ``messages`` array (non-empty) and return the parsed messages."""
    items = expect_array(value, param)
    if not items:
        raise invalid_value(param, "expected at least one message, got an empty array.")
    messages = tuple(parse_message(item, f"{param}[{i}]") for i, item in enumerate(items))
    count = len(images(messages))
    if count > vision.MAX_IMAGES:
        raise invalid_value(param, f"at most {vision.MAX_IMAGES} images per request, got {count}.")
    return messages


def required_capabilities(messages: Iterable[Message]) -> set[str]:
    """Model capabilities the messages' content parts need (checked after the model lookup)."""
    return {part.capability for m in messages for part in m.parts if part.capability is not None}


def images(messages: Iterable[Message]) -> list[vision.ImageInput]:
    """Every image of the messages, in order."""
    return [part.image for m in messages for part in m.parts if isinstance(part, ImagePart) and part.image]


def audio_clips(messages: Iterable[Message]) -> list[audio.AudioInput]:
    """Every audio clip of the messages, in order."""
    return [part.clip for m in messages for part in m.parts if isinstance(part, AudioPart) and part.clip]


async def load_images(messages: Iterable[Message]) -> None:
    """Fetch, decode and check every image (in the threadpool); 400 on the first refused one.

    Call it after the model's capabilities are checked: a model without vision never loads images.
    """
    await vision.load_all_async(images(messages))


async def load_audio(messages: Iterable[Message]) -> None:
    """Decode, check and recognise every audio clip (in the threadpool); 400 on the first refused one.

    Call it after the model's capabilities are checked: a model without audio never decodes audio.
    """
    await audio.load_all_async(audio_clips(messages))


def last_user_text(messages: Sequence[Message]) -> str:
    """The model's input: the text of the last user message ("" when there is none), as a
    ``Prompt`` carrying the colour names of that message's images and the transcripts of its audio
    clips, in order.

    Images and clips not loaded yet (``load_images`` / ``load_audio`` not awaited) are loaded here,
    blocking: every one of the request, so a refused one is a 400 whichever message holds it.
    """
    vision.load_all(images(messages))
    audio.load_all(audio_clips(messages))
    for message in reversed(messages):
        if message.role == "user":
            return Prompt(
                message.text,
                images=[image.colour or "" for image in images([message])],
                transcripts=[clip.transcript or "" for clip in audio_clips([message])],
            )
    return Prompt("")
