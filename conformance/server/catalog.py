"""The model catalog as data: Scaleway's serverless models, their capabilities and embedding sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import model_not_found, model_not_supported

#: Fixed ``created`` timestamp of every model object (2025-01-01T00:00:00Z), for determinism.
CREATED = 1735689600
OWNER = "scaleway"

# Capability names. Endpoints check the one they serve; content parts check theirs.
CHAT = "chat"
TOOLS = "tools"
PARALLEL_TOOLS = "parallel_tools"
VISION = "vision"
AUDIO = "audio"
RESPONSES = "responses"
TRANSCRIPTION = "transcription"
EMBEDDINGS = "embeddings"
RERANK = "rerank"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    capabilities: frozenset[str]
    #: Embedding sizes: (minimum, maximum); the maximum is the default. None for non-embedding models.
    dimensions: tuple[int, int] | None = None

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def as_object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": CREATED, "owned_by": OWNER}


def _model(model_id: str, *capabilities: str, dimensions: tuple[int, int] | None = None) -> ModelInfo:
    return ModelInfo(model_id, frozenset(capabilities), dimensions)


MODELS: tuple[ModelInfo, ...] = (
    _model("mistral-small-3.2-24b-instruct-2506", CHAT, TOOLS, VISION, PARALLEL_TOOLS),
    _model("pixtral-12b-2409", CHAT, VISION, TOOLS),
    _model("llama-3.3-70b-instruct", CHAT, TOOLS),
    _model("gemma-3-27b-it", CHAT, VISION),
    _model("gpt-oss-120b", CHAT, RESPONSES, TOOLS),
    _model("qwen3-235b-a22b-instruct-2507", CHAT, TOOLS, PARALLEL_TOOLS),
    _model("voxtral-small-24b-2507", CHAT, AUDIO, TRANSCRIPTION, TOOLS),
    _model("whisper-large-v3", TRANSCRIPTION),
    _model("qwen3-embedding-8b", EMBEDDINGS, RERANK, dimensions=(32, 4096)),
    _model("bge-multilingual-gemma2", EMBEDDINGS, dimensions=(3584, 3584)),
)

_BY_ID = {info.id: info for info in MODELS}


def get(model_id: str) -> ModelInfo:
    """The model, or a 404 ``model_not_found`` error (param ``model``)."""
    info = _BY_ID.get(model_id)
    if info is None:
        raise model_not_found(model_id)
    return info


def get_with(model_id: str, capability: str, what: str) -> ModelInfo:
    """The model if it has ``capability``; else 404 ``model_not_found`` or 400 ``model_not_supported``.

    ``what`` completes the sentence "The model 'x' does not support ...", e.g. "chat completions".
    """
    info = get(model_id)
    if not info.supports(capability):
        raise model_not_supported(model_id, what)
    return info
