"""Checks on audio input in chat: answers that depend on the audio sent."""

from __future__ import annotations

from . import check, require, short
from .chat import first_content, normalise


@check("chat.audio.transcribes", semantic=True, source="profile: endpoints.chat.features audio-input (answers depend on the audio)")
def transcribes(ctx, ex):
    """Asked for a transcript, the answer contains the words spoken in the audio (it depends on the audio)."""
    content = first_content(ex)
    words = normalise(content).split()
    missing = [w for w in ctx.params["words"] if normalise(w) not in words]
    require(not missing, f"the answer {short(content)} lacks the spoken word(s) {missing}")
