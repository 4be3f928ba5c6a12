"""The deterministic rule-based "language model": tokenizer, reply rules, truncation and logprobs."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: A token is a word or one punctuation character, carrying the whitespace before it.
TOKEN_PATTERN = re.compile(r"\s*(?:\w+|[^\w\s])")
#: Tokens added per prompt message, and once per prompt (priming the reply).
TOKENS_PER_MESSAGE = 4
TOKENS_PER_PROMPT = 2
ECHO_PREFIX = "You said: "
ECHO_MAX_WORDS = 50
COUNT_MAX_NUMBERS = 1000

_REPLY_EXACTLY = re.compile(r"reply\s+with\s+exactly\s*:[^\S\n]*([^\n]*)", re.IGNORECASE)
_COUNT = re.compile(r"count\s+from\s+(-?\d+)\s+to\s+(-?\d+)", re.IGNORECASE)
_COLOUR_WORD = re.compile(r"\bcolou?r\b", re.IGNORECASE)
_TRANSCRIBE_WORD = re.compile(r"transcri(?:be|pt)", re.IGNORECASE)

#: Alternative tokens offered in ``top_logprobs`` (never the chosen token).
_ALTERNATIVES = (
    "the", "a", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with",
    "as", "at", "by", "this", "be", "or", "an", "not", "but", "so", "if", "we",
)  # fmt: skip


def tokenize(text: str) -> list[str]:
    """Tokens of ``text``; joined, they give ``text`` without its trailing whitespace."""
    return TOKEN_PATTERN.findall(text)


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def prompt_tokens(message_texts: Iterable[str]) -> int:
    """Usage ``prompt_tokens`` of a conversation given the text of each message."""
    return sum(count_tokens(text) + TOKENS_PER_MESSAGE for text in message_texts) + TOKENS_PER_PROMPT


class Prompt(str):
    """The model's input: the text of the last user message, carrying the colour names of the
    images and the transcripts of the audio clips sent with it, in order (a plain ``str`` prompt
    has none)."""

    images: tuple[str, ...] = ()
    transcripts: tuple[str, ...] = ()

    def __new__(cls, text: str = "", images: Iterable[str] = (), transcripts: Iterable[str] = ()) -> Prompt:
        prompt = super().__new__(cls, text)
        prompt.images = tuple(images)
        prompt.transcripts = tuple(transcripts)
        return prompt


def colour_reply(colours: Sequence[str]) -> str:
    """``Red.`` for one image; ``Red, Green, Blue.`` for several, in order."""
    return ", ".join(name.capitalize() for name in colours) + "."


def transcript_reply(transcripts: Sequence[str]) -> str:
    """The transcripts joined by a space, first letter capitalised, then a full stop."""
    text = " ".join(transcripts)
    return text[:1].upper() + text[1:] + "."


def reply(prompt: str) -> str:
    """The full reply to ``prompt`` (first matching rule, case-insensitive).

    With images (a ``Prompt``), a question about their colour is answered first; then, with audio
    whose speech was recognised, a request for a transcript.
    """
    images = getattr(prompt, "images", ())
    if images and _COLOUR_WORD.search(prompt):
        return colour_reply(images)
    transcripts = [text for text in getattr(prompt, "transcripts", ()) if text]
    if transcripts and _TRANSCRIBE_WORD.search(prompt):
        return transcript_reply(transcripts)
    exact = _REPLY_EXACTLY.search(prompt)
    if exact:
        return exact.group(1).strip()
    count = _COUNT.search(prompt)
    if count:
        start, end = int(count.group(1)), int(count.group(2))
        if start <= end:
            end = min(end, start + COUNT_MAX_NUMBERS - 1)
            return " ".join(str(number) for number in range(start, end + 1))
    words = prompt.split()[:ECHO_MAX_WORDS]
    return (ECHO_PREFIX + " ".join(words)).rstrip()


@dataclass(frozen=True)
class Completion:
    tokens: tuple[str, ...]
    finish_reason: str  # "stop" or "length"

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def complete(prompt: str, *, max_tokens: int | None = None, stop: Sequence[str] = ()) -> Completion:
    """Reply to ``prompt``, cut before the earliest stop string, then truncated to ``max_tokens``."""
    return finish(reply(prompt), max_tokens=max_tokens, stop=stop)


def finish(text: str, *, max_tokens: int | None = None, stop: Sequence[str] = ()) -> Completion:
    """The completion of an answer ``text``: cut before the earliest stop string, then truncated."""
    cuts = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    if cuts:
        text = text[: min(cuts)]
    tokens = tokenize(text)
    if max_tokens is not None and len(tokens) > max_tokens:
        return Completion(tuple(tokens[:max_tokens]), "length")
    return Completion(tuple(tokens), "stop")


def _hash(token: str, position: int) -> int:
    return zlib.crc32(f"{position}:{token}".encode())


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def token_logprob(token: str, position: int, top_k: int) -> dict[str, Any]:
    """The ``ChatCompletionTokenLogprob`` of the token at ``position``, with ``top_k`` top logprobs.

    The first top entry is the chosen token itself; the others are distinct alternatives with
    strictly lower logprobs.
    """
    digest = _hash(token, position)
    logprob = -((digest % 2000) + 1) / 10000
    leading = token[: len(token) - len(token.lstrip())]
    top = [_entry(token, logprob)] if top_k > 0 else []
    offset = 0
    while len(top) < top_k:
        candidate = leading + _ALTERNATIVES[(digest + offset) % len(_ALTERNATIVES)]
        offset += 1
        if candidate != token:
            top.append(_entry(candidate, round(logprob - 1.0 - 0.5 * len(top), 4)))
    return {**_entry(token, logprob), "top_logprobs": top}


def token_logprobs(tokens: Sequence[str], top_k: int) -> list[dict[str, Any]]:
    return [token_logprob(token, position, top_k) for position, token in enumerate(tokens)]
