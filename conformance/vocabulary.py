"""The suite's closed vocabularies: endpoints, features, capabilities, transports, statuses.

Every case, check, profile and report record uses only these words; the suite's own tests
enforce it. Adding a word here is a deliberate act: say what it means in the comment.
"""

from __future__ import annotations

#: Endpoint short name -> path relative to the base URL (which ends in /v1).
ENDPOINTS: dict[str, str] = {
    "models": "/models",
    "chat": "/chat/completions",
    "responses": "/responses",
    "embeddings": "/embeddings",
    "rerank": "/rerank",
    "transcriptions": "/audio/transcriptions",
    "batches": "/batches",
}

#: Features a case exercises. A profile claims features per endpoint; a case whose feature
#: the profile does not claim is skipped with that reason.
FEATURES: dict[str, str] = {
    "core": "the basic request/response contract of the endpoint",
    "auth": "bearer-token authentication",
    "errors": "error status codes and the OpenAI error envelope",
    "streaming": "server-sent events (stream: true)",
    "stream-usage": "stream_options.include_usage: a final usage chunk",
    "max-tokens": "max_tokens / max_completion_tokens truncation",
    "stop": "stop sequences",
    "n": "several choices per request (n > 1)",
    "logprobs": "token log-probabilities (logprobs / top_logprobs)",
    "unsupported-params": "documented-unsupported parameters are refused",
    "structured-output": "response_format json_object / json_schema: the answer is JSON valid against the schema",
    "tools": "function tools: tool_choice, tool_calls shape, tool results, streamed tool-call deltas",
    "parallel-tools": "several tool calls in one answer (parallel_tool_calls)",
    "vision": "image_url content parts: formats, URLs, limits, answers that depend on the image",
    "audio-input": "input_audio content parts (wav, mp3): answers that depend on the audio",
    "embedding-base64": "embeddings encoding_format base64: the same vector as float (the openai client asks for it by default)",
    "embedding-dimensions": "embeddings dimensions: shortened vectors of that length, renormalised",
    "normalized-vectors": "embedding vectors have unit L2 norm",
    "rerank-documents": "rerank return_documents and documents given as {text} objects",
    "rerank-embedding-consistent": "rerank relevance scores agree with cosine similarity of the embeddings endpoint's vectors",
    "response-formats": "transcription response_format json, text, srt, vtt, verbose_json: each format's exact syntax",
    "file-types": "uploaded file types: supported ones accepted, unsupported ones refused",
    "batch-list": "listing batches: after, limit, has_more, first_id, last_id",
    "batch-cancel": "cancelling a batch: cancelling then cancelled, never back to running",
    "batch-errors": "bad batch input (duplicate custom_id, wrong url, non-JSON line) refused or reported in the error file",
    "golden": "responses have the shape of the documented example exchanges (fixtures/golden/)",
    "property-based": "requests generated from the OpenAPI spec (schemathesis): valid ones answered per the spec, invalid ones refused",
}

#: Model capabilities: what a configured model must be able to do for a case to run.
CAPABILITIES: tuple[str, ...] = (
    "chat",
    "tools",
    "vision",
    "audio",
    "responses",
    "embeddings",
    "rerank",
    "transcription",
)

#: The endpoint each capability's model serves.
CAPABILITY_ENDPOINTS: dict[str, str] = {
    "chat": "chat", "tools": "chat", "vision": "chat", "audio": "chat", "responses": "responses",
    "embeddings": "embeddings", "rerank": "rerank", "transcription": "transcriptions",
}

#: Where a run's model for a capability comes from (the report says which): given with --model,
#: the profile's default, or the chat model standing in for a chat-like capability.
MODEL_GIVEN, MODEL_PROFILE_DEFAULT, MODEL_CHAT_FALLBACK = "given", "profile-default", "chat-fallback"

#: Chat-like capabilities fall back to the ``chat`` model when none is configured.
CHAT_LIKE: frozenset[str] = frozenset({"tools", "vision", "audio", "responses"})

#: How a target wants a batch's input file named (profile ``batches.properties.input_file``):
#: an ``s3://bucket/key`` URL, or a presigned https URL.
S3_URL, PRESIGNED_URL = "s3-url", "presigned-url"
BATCH_INPUT_FILE_FORMS: tuple[str, ...] = (S3_URL, PRESIGNED_URL)

#: How deep property-based runs go: off; quick (one coverage case per kind of value or violation,
#: a few fuzzed ones); deep (every coverage case).
PROPERTY_DEPTHS: tuple[str, ...] = ("off", "quick", "deep")

#: The ways the suite reaches a target: raw HTTP (httpx), the official Python SDK (openai), the
#: official Node SDK (openai-node: the openai npm package, through a Node process).
TRANSPORTS: tuple[str, ...] = ("http", "openai", "openai-node")
#: The transports property-based runs go through (hundreds of generated requests each: the Node
#: SDK's parsing is judged by the cases).
PROPERTY_TRANSPORTS: tuple[str, ...] = ("http", "openai")

#: Verdict statuses, worst first (used to summarise a cell of the matrix). ``warn``: a
#: recommended-level check (or finding) that does not hold; it never decides the exit code
#: unless the run is ``--strict``.
PASS, FAIL, ERROR, SKIP, UNSUPPORTED_OK, WARN = "pass", "fail", "error", "skip", "unsupported-ok", "warn"
STATUSES: tuple[str, ...] = (FAIL, ERROR, WARN, PASS, UNSUPPORTED_OK, SKIP)

#: Requirement levels of a check or of one finding (docs/INTERPRETING.md maps sources to levels):
#: ``required`` — breaking it breaks clients (the official SDKs, the wire protocol) or contradicts
#: what the profile claims; ``recommended`` — the letter of OpenAI's spec, or OpenAI's observed
#: behaviour, that clients do not rely on.
REQUIRED, RECOMMENDED = "required", "recommended"
LEVELS: tuple[str, ...] = (REQUIRED, RECOMMENDED)

#: Where a check's strictness is written (a check's ``source`` is "KIND: reference").
SOURCE_KINDS: dict[str, str] = {
    "openapi": "OpenAI's OpenAPI document (specs/openapi/openapi.yaml): a schema, a parameter, a documented status",
    "profile": "the provider's own documentation, as the profile states it (a claimed feature, an unsupported parameter, a limit)",
    "sdk": "what the official openai SDK needs to read the answer (its parser, its stream accumulator, its helpers)",
    "wire": "the wire protocols: HTTP (RFC 9110), JSON (RFC 8259), server-sent events (WHATWG HTML §9.2)",
    "observed": "OpenAI's own observed behaviour, written nowhere normative",
}
#: Source kinds that can only ever back a recommended-level check.
RECOMMENDED_ONLY_SOURCES: frozenset[str] = frozenset({"observed"})

#: How semantic (model-quality) checks count: as fail, as warn, or not at all (skip).
SEMANTIC_MODES: tuple[str, ...] = ("fail", "warn", "off")
#: What the terminal shows while a run goes on (--progress).
PROGRESS_MODES: tuple[str, ...] = ("endpoint", "off")
