"""Benign servers: the reference server wrapped by rewrites a *correct* server may do.

The faulty servers (``faults*.py``) measure recall: each breaks one contract and the suite must
say so. These measure precision: each variant changes what the reference app sends (or, rarely,
what it receives) in a way the specs allow — OpenAI's OpenAPI document
(``specs/openapi/openapi.yaml``), the WHATWG server-sent-events parsing rules, RFC 9110 (HTTP) and
RFC 8259 (JSON), and what the official ``openai`` Python SDK tolerates — and the suite must report
no ``fail`` and no ``error`` (``warn``, a recommended-level finding, is allowed). Each variant's
docstring quotes the text that allows it.

A variant works at one **stage** of the answer, and a combined server applies the stages in
this order, so that variants compose:

``request``
    the request, before the reference app sees it;
``json``
    the decoded JSON: ``resp.json`` / ``resp.set_json`` for a plain body, ``resp.events`` (a list
    of ``[event name or None, payload]``, the payload decoded JSON or ``"[DONE]"``) for a stream;
``encoding``
    how each JSON document is written: ``resp.body`` for a plain body, the payload texts of
    ``resp.events`` for a stream;
``framing``
    the lines of the event stream: ``resp.blocks`` (a list of :class:`Block`);
``transport``
    headers, content coding and how the body is cut into HTTP chunks.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import API_KEY, FaultyApp, Req, Resp, read_request

STAGES = ("request", "json", "encoding", "framing", "transport")


@dataclass
class Block:
    """One event of a stream as lines (without their terminator), and the terminator used."""

    lines: list[str]
    eol: str = "\n"


@dataclass
class Benign:
    name: str
    description: str
    stage: str
    on_request: Callable[[Req], None] | None = None
    on_response: Callable[[Req, Resp], None] | None = None
    #: The endpoints its own run covers (``conformance run --endpoint``); None: every endpoint.
    scope: tuple[str, ...] | None = None
    #: Part of the server with every variant combined (False: it contradicts another variant).
    combined: bool = True
    #: The transports whose verdicts its own run judges (see ``sse_bom``).
    transports: tuple[str, ...] = ("http", "openai")
    #: Checks the suite still (wrongly) fails against this variant, kept out of the combined
    #: server until their owners fix them; tests/test_benign_servers.py holds them to exactly
    #: these, so a fix shows up. The reason says why each check is wrong.
    known_false: frozenset[str] = frozenset()
    known_false_reason: str = ""
    #: Extra ``conformance run`` arguments its run needs (e.g. the models it serves under other names).
    args: tuple[str, ...] = ()


BENIGN: dict[str, Benign] = {}


def benign(
    name: str,
    stage: str,
    *,
    scope: tuple[str, ...] | None = None,
    combined: bool = True,
    transports=("http", "openai"),
    on_request=None,
    known_false: set[str] | str = frozenset(),
    because: str = "",
    args: tuple[str, ...] = (),
):
    """Register a variant: decorate ``(req) -> None`` (stage ``request``) or ``(req, resp) -> None``;
    ``on_request`` adds a request rewrite to a response variant (the two halves of one behaviour)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")

    def register(fn):
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"benign variant {name!r} needs a docstring citing what allows it")
        BENIGN[name] = Benign(
            name=name,
            description=doc,
            stage=stage,
            on_request=fn if stage == "request" else on_request,
            on_response=None if stage == "request" else fn,
            scope=scope,
            combined=combined,
            transports=tuple(transports),
            known_false=frozenset({known_false} if isinstance(known_false, str) else known_false),
            known_false_reason=because,
            args=tuple(args),
        )
        return fn

    return register


# -- the app --------------------------------------------------------------------------------------
def _parse_canonical_sse(body: bytes) -> list[list[Any]]:
    """The reference server's own framing (``event: NAME\\n`` ``data: JSON\\n\\n``) as [name, payload]."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data = line[len("data: "):]
        if data is not None:
            events.append([name, data if data == "[DONE]" else json.loads(data)])
    return events


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BenignApp(FaultyApp):
    """ASGI app: the reference app behind the given benign variants, applied stage by stage."""

    def __init__(self, variants: list[Benign] | Benign, api_keys=(API_KEY,)) -> None:
        variants = [variants] if isinstance(variants, Benign) else list(variants)
        self.variants = sorted(variants, key=lambda v: STAGES.index(v.stage))  # stable: registry order within a stage
        super().__init__(None, api_keys)  # type: ignore[arg-type]

    def _hooks(self, stage: str) -> list[Callable]:
        return [v.on_response for v in self.variants if v.stage == stage and v.on_response]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        req = await read_request(scope, receive)
        path = scope["path"]
        for variant in self.variants:
            if variant.on_request:
                variant.on_request(req)
        inner_path = "/v1" + req.path if path.startswith("/v1") else req.path
        resp = await self._call_inner(dict(scope, path=inner_path, raw_path=inner_path.encode()), req)
        resp.events = _parse_canonical_sse(resp.body) if resp.is_stream else None
        resp.blocks = None
        resp.pieces = None  # set by a transport variant: the body cut into HTTP chunks
        for hook in self._hooks("json"):
            hook(req, resp)
        if resp.events is not None:
            resp.events = [[name, data if data == "[DONE]" else _compact(data)] for name, data in resp.events]
        for hook in self._hooks("encoding"):
            hook(req, resp)
        if resp.events is not None:
            resp.blocks = [Block(([f"event: {name}"] if name else []) + [f"data: {line}" for line in data.split("\n")]) for name, data in resp.events]
        for hook in self._hooks("framing"):
            hook(req, resp)
        if resp.blocks is not None:
            bom = "\ufeff" if getattr(resp, "bom", False) else ""
            resp.body = (bom + "".join("".join(line + b.eol for line in b.lines) + b.eol for b in resp.blocks)).encode("utf-8")
        for hook in self._hooks("transport"):
            hook(req, resp)
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in ("content-length", "transfer-encoding")]
        pieces = resp.pieces
        if pieces is None:
            headers.append(("content-length", str(len(resp.body))))
            pieces = [resp.body]
        await send({"type": "http.response.start", "status": resp.status, "headers": [(k.encode(), v.encode()) for k, v in headers]})
        for i, piece in enumerate(pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": i < len(pieces) - 1})


def combined() -> list[Benign]:
    """The variants of the combined server: every combinable one the suite judges right."""
    return [v for v in BENIGN.values() if v.combined and not v.known_false]


def run_args(variants: list[Benign]) -> tuple[str, ...]:
    """The ``conformance run`` arguments for a server of ``variants``: theirs, else every model named
    (so that the models checks, which look for the models given with --model, run too)."""
    given = tuple(arg for v in variants for arg in v.args)
    return given or _model_args()


def known_false() -> list[Benign]:
    """The combinable variants the suite still misjudges (see :attr:`Benign.known_false`)."""
    return [v for v in BENIGN.values() if v.combined and v.known_false]


# -- helpers ----------------------------------------------------------------------------------------
def _endpoint(req: Req) -> str:
    return req.path.split("?", 1)[0]


def _ok(resp: Resp) -> bool:
    return 200 <= resp.status < 300


def _is_json(resp: Resp) -> bool:
    return resp.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def _edit_json(resp: Resp, fn: Callable[[Any], None]) -> None:
    """Apply ``fn`` to every JSON document of the answer, in place."""
    if resp.events is not None:
        for _, data in resp.events:
            if data != "[DONE]":
                fn(data)
    elif _is_json(resp):
        body = resp.json
        if body is not None:
            fn(body)
            resp.set_json(body)


#: Keys whose values are the caller's own data or schemas (echoed back), never the server's objects.
_OPAQUE = frozenset({"metadata", "parameters", "schema", "logit_bias", "embedding", "input_schema", "arguments"})


def _objects(value: Any, path: tuple = ()):
    """Every JSON object inside ``value`` with its path of keys, skipping the caller's own data."""
    if isinstance(value, dict):
        yield value, path
        for key, sub in list(value.items()):
            if key not in _OPAQUE:
                yield from _objects(sub, path + (key,))
    elif isinstance(value, list):
        for sub in value:
            yield from _objects(sub, path + ("[]",))


def _text_docs(resp: Resp, fn: Callable[[str], str]) -> None:
    """Rewrite the text of every JSON document (encoding stage)."""
    if resp.events is not None:
        resp.events = [[name, data if data == "[DONE]" else fn(data)] for name, data in resp.events]
    elif _is_json(resp) and resp.json is not None:
        resp.body = fn(resp.body.decode("utf-8")).encode("utf-8")


def _strip(value: Any, prefix: str) -> Any:
    return value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else value


# == request rewrites (the request halves of json-stage variants) ==========================
def _unprefix_batch_ids(req: Req) -> None:
    """The request half of ``openai_style_batch_ids``: the reference app knows the bare UUIDs."""
    parts = req.path.split("/")
    if len(parts) >= 3 and parts[1] == "batches" and parts[2].startswith("batch_"):
        parts[2] = parts[2][len("batch_"):]
        req.path = "/".join(parts)
    req.query = re.sub(r"(^|&)after=batch_", r"\1after=", req.query)


# == json stage ====================================================================================
@benign("openai_style_batch_ids", "json", scope=("batches",), on_request=_unprefix_batch_ids)
def openai_style_batch_ids(req, resp):
    """Batch ids carry OpenAI's ``batch_`` prefix (the reference sends bare UUIDs, Scaleway-style):
    every batch object's ``id`` and the list's ``first_id`` / ``last_id``.

    OpenAPI ``Batch.id`` and ``ListBatchesResponse.first_id`` / ``last_id`` are ``type: string``
    with no pattern; a client only echoes an id back (``GET /batches/{batch_id}``, ``.../cancel``,
    ``after=``), and the request half strips the prefix again for the reference app.
    """
    if not _endpoint(req).startswith("/batches"):
        return

    def fix(doc):
        for obj, _ in _objects(doc):
            if obj.get("object") == "batch" and isinstance(obj.get("id"), str):
                obj["id"] = "batch_" + obj["id"]
        if isinstance(doc, dict) and doc.get("object") == "list":
            for key in ("first_id", "last_id"):
                if isinstance(doc.get(key), str):
                    doc[key] = "batch_" + doc[key]

    _edit_json(resp, fix)


@benign("bare_ids", "json", scope=("chat", "responses", "rerank"))
def bare_ids(req, resp):
    """Ids without OpenAI's prefixes: ``chatcmpl-``, ``msg_``, ``rs_``, ``fc_``, ``call_``, ``rerank-``
    (``resp_``: see ``responses_bare_id``).

    OpenAPI: ``CreateChatCompletionResponse.id`` "A unique identifier for the chat completion",
    ``Response.id`` "Unique identifier for this Response", ``OutputMessage.id``,
    ``FunctionToolCall.call_id``, ``ChatCompletionMessageToolCall.id``: all ``type: string``, no
    ``pattern``. openai-python types every one as ``str``; ids are opaque to clients (Mistral's
    tool-call ids, for one, are 9 alphanumeric characters).
    """
    prefixes = ("chatcmpl-", "msg_", "rs_", "fc_", "call_", "rerank-")

    def strip_all(doc):
        for obj, _ in _objects(doc):
            for key in ("id", "item_id", "call_id"):
                if isinstance(obj.get(key), str) and obj.get("object") != "response":
                    for prefix in prefixes:
                        obj[key] = _strip(obj[key], prefix)

    if _endpoint(req) in ("/chat/completions", "/responses", "/rerank") and _ok(resp):
        _edit_json(resp, strip_all)


@benign("responses_bare_id", "json", scope=("responses",))
def responses_bare_id(req, resp):
    """Response ids without OpenAI's ``resp_`` prefix (in the body and in every streamed ``response``).

    OpenAPI ``Response.id``: "Unique identifier for this Response", ``type: string``, no ``pattern``;
    openai-python types it ``str``.
    """
    if _endpoint(req) == "/responses" and _ok(resp):

        def fix(doc):
            for obj, _ in _objects(doc):
                if obj.get("object") == "response":
                    obj["id"] = _strip(obj.get("id"), "resp_")

        _edit_json(resp, fix)


@benign("model_resolved_name", "json", scope=("chat", "responses", "embeddings", "rerank"))
def model_resolved_name(req, resp):
    """``model`` in the answer is the served model's full name, not the alias the request used.

    OpenAPI ``CreateChatCompletionResponse.model``: "The model used for the chat completion"
    (not "the model requested"); OpenAI itself answers a request for ``gpt-4o`` with
    ``"model": "gpt-4o-2024-08-06"``; vLLM answers with its ``--served-model-name``.
    """
    if _endpoint(req) not in ("/chat/completions", "/responses", "/embeddings", "/rerank") or not _ok(resp):
        return

    def fix(doc):
        for obj, path in _objects(doc):
            if isinstance(obj.get("model"), str) and "tools" not in path:
                if not obj["model"].endswith("-2026-01-01"):
                    obj["model"] = obj["model"] + "-2026-01-01"

    _edit_json(resp, fix)


#: The profile's default model of each capability, as ``--model`` arguments, under a prefix.
def _model_args(prefix: str = "") -> tuple[str, ...]:
    from conformance.profiles import load_profile

    models = load_profile("scaleway").models
    return tuple(f"--model={capability}={prefix}{model}" for capability, model in sorted(models.items()))


_ORG = "scaleway/"


def _unprefix_models(req: Req) -> None:
    """The request half of ``slash_model_ids``: the reference app knows the bare names."""
    req.body = req.body.replace(_ORG.encode(), b"")
    req.path = req.path.replace("/models/" + _ORG, "/models/")


@benign(
    "slash_model_ids", "json", scope=("models", "chat", "responses", "embeddings", "rerank", "transcriptions"),
    combined=False, on_request=_unprefix_models, args=_model_args(_ORG),
)
def slash_model_ids(req, resp):
    """Model ids with a slash, as vLLM serves Hugging Face names (``scaleway/mistral-small-...``), in
    ``/models``, ``GET /models/{model}`` and every answer's ``model``; the run is configured with them.

    OpenAPI ``Model.id``: "The model identifier, which can be referenced in the API endpoints", a
    plain string; the path template ``/models/{model}`` takes it as is (starlette's ``{model:path}``,
    vLLM's and LiteLLM's routes accept the slash). Not combined: a batch's input file in object
    storage names the model too, and the request half cannot rewrite it.
    """

    def fix(doc):
        for obj, path in _objects(doc):
            if obj.get("object") == "model" and isinstance(obj.get("id"), str):
                obj["id"] = _ORG + obj["id"]
            if isinstance(obj.get("model"), str) and not obj["model"].startswith(_ORG):
                obj["model"] = _ORG + obj["model"]

    if _ok(resp):
        _edit_json(resp, fix)


@benign("system_fingerprint", "json", scope=("chat",))
def system_fingerprint(req, resp):
    """``system_fingerprint`` present: a string in completions, ``null`` in stream chunks (vLLM).

    OpenAPI ``CreateChatCompletionResponse.system_fingerprint``: an optional (not required),
    deprecated string "This fingerprint represents the backend configuration"; the suite lets a
    non-required property be ``null`` (vLLM-based servers, Scaleway's documented answer).
    """
    if _endpoint(req) != "/chat/completions" or not _ok(resp):
        return

    def fix(doc):
        if isinstance(doc, dict) and doc.get("object") in ("chat.completion", "chat.completion.chunk"):
            doc["system_fingerprint"] = "fp_44709d6fcb" if doc["object"] == "chat.completion" else None

    _edit_json(resp, fix)


@benign("stream_optional_fields_omitted", "json", scope=("chat",))
def stream_optional_fields_omitted(req, resp):
    """Stream chunks without ``logprobs: null`` in each choice, and without ``usage: null``.

    OpenAPI ``CreateChatCompletionStreamResponse``: ``choices[].required`` is ``[delta,
    finish_reason, index]`` (``logprobs`` is optional there); ``usage`` "An optional field that will
    only be present when you set stream_options include_usage". llama.cpp and Ollama send neither.
    """
    if _endpoint(req) != "/chat/completions" or resp.events is None:
        return
    for _, chunk in resp.events:
        if isinstance(chunk, dict):
            if chunk.get("usage", 0) is None:
                del chunk["usage"]
            for choice in chunk.get("choices") or []:
                if choice.get("logprobs", 0) is None:
                    del choice["logprobs"]


#: Null-valued properties that stay: required by the OpenAPI document (``message.content``,
#: ``message.refusal``, ``choices[].logprobs`` and ``finish_reason``, ``Response.error`` /
#: ``incomplete_details`` / ``instructions``), or by the error envelope (``param``, ``code``).
_REQUIRED_NULLABLE = frozenset({"content", "refusal", "logprobs", "finish_reason", "error", "incomplete_details", "instructions", "param", "code"})


@benign("nulls_omitted", "json")
def nulls_omitted(req, resp):
    """Optional properties sent as absent instead of ``null`` (``completed_at``, ``previous_response_id``,
    ``max_output_tokens``, ``reasoning.effort``, ``delta.content`` beside tool calls, a batch's
    ``errors`` / ``output_file_id`` / ``*_at`` not reached yet, ...).

    OpenAPI: none of them is in its schema's ``required`` list; a property not required may be
    absent (JSON Schema 2020-12 ``required``). openai-python types them ``Optional[...] = None``,
    so absent and ``null`` read the same. Go and Rust servers (``omitempty``,
    ``skip_serializing_if``) omit nulls this way.
    """

    def fix(doc):
        for obj, _ in list(_objects(doc)):
            for key in [k for k, v in obj.items() if v is None and k not in _REQUIRED_NULLABLE]:
                del obj[key]

    _edit_json(resp, fix)


@benign("responses_optional_fields_omitted", "json", scope=("responses",))
def responses_optional_fields_omitted(req, resp):
    """Response objects without the properties the OpenAPI ``Response`` schema does not require:
    ``background``, ``completed_at``, ``max_output_tokens``, ``max_tool_calls``,
    ``previous_response_id``, ``reasoning``, ``store``, ``text``, ``truncation``; reasoning items
    without ``status`` and ``content`` (``ReasoningItem.required`` is ``[id, summary, type]``).

    OpenAPI ``Response`` (allOf) requires ``id, object, created_at, error, incomplete_details,
    instructions, model, tools, output, parallel_tool_calls, metadata, tool_choice, temperature,
    top_p``; everything else may be absent. vLLM's ``ResponsesResponse`` has no ``completed_at``
    or ``store``.
    """
    if _endpoint(req) != "/responses" or not _ok(resp):
        return
    optional = ("background", "completed_at", "max_output_tokens", "max_tool_calls", "previous_response_id", "reasoning", "store", "text", "truncation")

    def fix(doc):
        for obj, _ in list(_objects(doc)):
            if obj.get("object") == "response":
                for key in optional:
                    obj.pop(key, None)
            if obj.get("type") == "reasoning" and "summary" in obj:
                obj.pop("status", None)
                obj.pop("content", None)

    _edit_json(resp, fix)


@benign(
    "responses_function_call_minimal", "json", scope=("responses",),
)
def responses_function_call_minimal(req, resp):
    """Non-streamed ``function_call`` output items without ``id`` and ``status``.

    OpenAPI ``FunctionToolCall.required`` is ``[type, call_id, name, arguments]``: ``id`` ("The
    unique ID of the function tool call") and ``status`` are optional; openai-python types them
    ``Optional[str] = None``. A stream needs the id (its events carry ``item_id``); a plain
    answer does not. The tool result goes back by ``call_id``.
    """
    if _endpoint(req) != "/responses" or resp.events is not None or not _ok(resp):
        return
    body = resp.json
    if isinstance(body, dict):
        for item in body.get("output") or []:
            if isinstance(item, dict) and item.get("type") == "function_call":
                item.pop("id", None)
                item.pop("status", None)
        resp.set_json(body)


@benign("responses_no_cache_write_tokens", "json", scope=("responses",))
def responses_no_cache_write_tokens(req, resp):
    """``usage.input_tokens_details`` holds ``cached_tokens`` only, no ``cache_write_tokens``.

    ``cache_write_tokens`` is required only by the newest OpenAPI (openai-openapi 2.3.0, 2026);
    vLLM's ``InputTokensDetails`` has ``cached_tokens`` alone, and so do Scaleway's documented
    Responses answers; openai-python types it optional. specs/openapi/recommended.yaml lists it.
    """
    if _endpoint(req) != "/responses" or not _ok(resp):
        return

    def fix(doc):
        for obj, path in _objects(doc):
            if path and path[-1] == "input_tokens_details":
                obj.pop("cache_write_tokens", None)

    _edit_json(resp, fix)


@benign("responses_no_error_field", "json", scope=("responses",))
def responses_no_error_field(req, resp):
    """A successful Response object without ``"error": null``.

    OpenAPI ``Response`` lists ``error`` as required (nullable), but vLLM's ``ResponsesResponse``
    leaves it out (``# error: Optional[ResponseError] = None`` is commented out in
    vllm/entrypoints/openai/protocol.py); openai-python types it ``Optional[ResponseError] = None``,
    so a client reads absent as no error.
    """
    if _endpoint(req) != "/responses" or not _ok(resp):
        return

    def fix(doc):
        for obj, _ in _objects(doc):
            if obj.get("object") == "response" and obj.get("error", 0) is None:
                del obj["error"]

    _edit_json(resp, fix)


@benign("responses_output_text_no_logprobs", "json", scope=("responses",))
def responses_output_text_no_logprobs(req, resp):
    """``output_text`` content parts (in the response and in content_part events) without ``logprobs``.

    ``OutputTextContent.required`` gained ``logprobs`` in recent OpenAPI versions; openai-python
    types ``ResponseOutputText.logprobs`` as ``Optional[List[Logprob]] = None``, and SDK-built
    servers (``ResponseOutputText(type="output_text", text=..., annotations=[])``) leave it out.
    """
    if _endpoint(req) != "/responses" or not _ok(resp):
        return

    def fix(doc):
        for obj, _ in _objects(doc):
            if obj.get("type") == "output_text" and "text" in obj:
                obj.pop("logprobs", None)

    _edit_json(resp, fix)


@benign("chat_message_no_refusal", "json", scope=("chat",))
def chat_message_no_refusal(req, resp):
    """Chat messages without ``"refusal": null``.

    ``ChatCompletionResponseMessage.required`` lists ``refusal`` since structured outputs (2024);
    openai-python types it ``Optional[str] = None``; llama.cpp and Ollama send no ``refusal``.
    """
    if _endpoint(req) != "/chat/completions" or not _ok(resp) or resp.events is not None:
        return

    def fix(doc):
        for choice in (doc.get("choices") if isinstance(doc, dict) else None) or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and message.get("refusal", 0) is None:
                del message["refusal"]

    _edit_json(resp, fix)


@benign("chat_choice_no_logprobs", "json", scope=("chat",))
def chat_choice_no_logprobs(req, resp):
    """Chat completion choices without ``"logprobs": null`` when logprobs were not asked for.

    ``CreateChatCompletionResponse.choices[].required`` lists ``logprobs`` (nullable), but
    openai-python types ``Choice.logprobs`` ``Optional[ChoiceLogprobs] = None`` and Ollama's
    OpenAI-compatible answers carry no ``logprobs`` unless asked.
    """
    if _endpoint(req) != "/chat/completions" or not _ok(resp) or resp.events is not None:
        return

    def fix(doc):
        for choice in (doc.get("choices") if isinstance(doc, dict) else None) or []:
            if isinstance(choice, dict) and choice.get("logprobs", 0) is None:
                del choice["logprobs"]

    _edit_json(resp, fix)


@benign("cohere_rerank", "json", scope=("rerank",))
def cohere_rerank(req, resp):
    """Rerank answers in Cohere v2's shape: ``id``, ``results`` (``index``, ``relevance_score``, and
    ``document`` only when asked), ``meta`` (``api_version``, ``billed_units.search_units``); no
    ``model``, no ``usage``.

    specs/openapi ``RerankResponse`` requires only ``results`` (``id``, ``model``, ``usage``
    optional: "Jina sends no id, Cohere no model/usage", SOURCE.md); ``RerankResult`` requires
    ``index`` and ``relevance_score``. Cohere's ``return_documents`` defaults to false.
    """
    if _endpoint(req) != "/rerank" or not _ok(resp) or not isinstance(resp.json, dict):
        return
    body = resp.json
    asked = isinstance(req.json, dict) and req.json.get("return_documents") is True
    results = []
    for result in body.get("results") or []:
        out = {"index": result["index"], "relevance_score": result["relevance_score"]}
        if asked and "document" in result:
            out["document"] = result["document"]
        results.append(out)
    resp.set_json({
        "id": body.get("id", "07734bd2-2473-4f07-94e1-0d9f0e6843cf"),
        "results": results,
        "meta": {"api_version": {"version": "2", "is_experimental": False}, "billed_units": {"search_units": 1}},
    })


#: Unknown members a provider adds (one of each JSON type, nested), and the ones safe inside
#: a streamed ``delta``: the SDK's stream accumulator concatenates strings, adds numbers and
#: merges objects of successive deltas, so a delta's extras are a string and a null.
_EXTRA = {"x_provider": {"region": "fr-par", "flags": [1, "two", None, {"three": True}], "ratio": 0.5}}
_DELTA_EXTRA = {"x_provider_note": "", "reasoning_content": None}


@benign("extra_unknown_fields", "json")
def extra_unknown_fields(req, resp):
    """Unknown members in every JSON object of every answer (errors, streamed events, nested items).

    OpenAPI: the response schemas set no ``additionalProperties: false``, so extra members are
    valid; SOURCE.md: "Extra properties are allowed everywhere". openai-python models are pydantic
    with ``extra="allow"`` ("unknown fields are kept", README: "response objects ... may contain
    additional fields"). RFC 8259 §4 puts no limit on an object's members.
    """

    def fix(doc):
        for obj, path in list(_objects(doc)):
            inside_delta = "delta" in path
            if inside_delta or (path and path[-1] == "delta"):
                for key, value in _DELTA_EXTRA.items():
                    obj.setdefault(key, value)
            else:
                for key, value in _EXTRA.items():
                    obj.setdefault(key, json.loads(json.dumps(value)))

    _edit_json(resp, fix)


@benign("vendor_fields", "json")
def vendor_fields(req, resp):
    """The members vLLM, llama.cpp, Ollama or LiteLLM really add: chat ``choices[].stop_reason``,
    ``message.reasoning_content``, ``message.tool_calls: []``, ``prompt_logprobs``,
    ``kv_transfer_params``, ``usage.prompt_tokens_details``; models ``root``, ``parent``,
    ``max_model_len``, ``permission``; embeddings ``id``, ``created``, ``usage.completion_tokens: 0``; Responses ``user``,
    ``input_messages``, ``output_messages``, ``top_logprobs``.

    Unknown members are allowed (see ``extra_unknown_fields``); the known ones keep their
    documented types (``tool_calls`` an array, ``top_logprobs`` an integer).
    """
    path = _endpoint(req)

    def fix(doc):
        if not isinstance(doc, dict):
            return
        kind = doc.get("object")
        if kind == "chat.completion":
            doc.update(prompt_logprobs=None, kv_transfer_params=None)
            for choice in doc.get("choices") or []:
                choice.setdefault("stop_reason", None)
                message = choice.get("message") or {}
                message.setdefault("reasoning_content", None)
                message.setdefault("tool_calls", [])
            if isinstance(doc.get("usage"), dict):
                doc["usage"].setdefault("prompt_tokens_details", None)
        elif kind == "chat.completion.chunk":
            for choice in doc.get("choices") or []:
                choice.setdefault("stop_reason", None)
        elif kind == "list" and path == "/models":
            for model in doc.get("data") or []:
                model.update(root=model.get("id"), parent=None, max_model_len=32768,
                             permission=[{"id": "modelperm-0", "object": "model_permission", "allow_sampling": True}])
        elif kind == "model":
            doc.update(root=doc.get("id"), parent=None, max_model_len=32768)
        elif kind == "list" and path == "/embeddings":
            doc.update(id="embd-4c1b5a", created=1735689600)
            if isinstance(doc.get("usage"), dict):
                doc["usage"].update(completion_tokens=0, prompt_tokens_details=None)
        elif kind == "response":
            doc.update(user=None, input_messages=None, output_messages=None, top_logprobs=0)
        for obj, _ in _objects(doc):
            if obj.get("object") == "response":
                obj.setdefault("top_logprobs", 0)

    _edit_json(resp, fix)


@benign("key_order_shuffled", "json")
def key_order_shuffled(req, resp):
    """Every object's members in reverse order (``"object"`` last, ``"id"`` after ``"choices"``, ...).

    RFC 8259 §4: "An object is an unordered collection of zero or more name/value pairs"; JSON
    parsers "differ as to whether or not they make the ordering of object members visible", so no
    client may rely on it.
    """

    def reverse(value):
        if isinstance(value, dict):
            items = [(k, v if k in _OPAQUE else reverse(v)) for k, v in reversed(list(value.items()))]
            value.clear()
            value.update(items)
        elif isinstance(value, list):
            for sub in value:
                reverse(sub)
        return value

    _edit_json(resp, reverse)


def _chat_stream(req: Req, resp: Resp) -> bool:
    return _endpoint(req) == "/chat/completions" and resp.events is not None and _ok(resp)


@benign("stream_finish_with_last_token", "json", scope=("chat",))
def stream_finish_with_last_token(req, resp):
    """The finish_reason rides on the chunk with the last content token instead of a chunk of its own.

    OpenAPI ``CreateChatCompletionStreamResponse.choices[].finish_reason`` is a property of any
    chunk's choice ("The reason the model stopped generating tokens"), nothing demands an empty
    delta for it; vLLM and llama.cpp send it with the last token.
    """
    if not _chat_stream(req, resp):
        return
    events = resp.events
    for i in range(len(events) - 1, 0, -1):
        chunk = events[i][1]
        if not isinstance(chunk, dict) or len(chunk.get("choices") or []) != 1:
            continue
        choice = chunk["choices"][0]
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") and not any(delta.get(key) for key in ("content", "tool_calls", "role", "refusal")):
            previous = events[i - 1][1]
            if isinstance(previous, dict) and len(previous.get("choices") or []) == 1:
                prev_choice = previous["choices"][0]
                if prev_choice.get("index") == choice.get("index") and prev_choice.get("finish_reason") is None and prev_choice.get("delta", {}).get("content"):
                    prev_choice["finish_reason"] = choice["finish_reason"]
                    del events[i]


@benign("stream_role_every_delta", "json", scope=("chat",))
def stream_role_every_delta(req, resp):
    """Every content delta repeats ``"role": "assistant"`` (text-generation-inference's style).

    OpenAPI ``ChatCompletionStreamResponseDelta.role``: "The role of the author of this message",
    allowed on any delta. (openai-python's stream accumulator concatenates the repeated role into
    ``"assistantassistant..."`` without raising: a client-side quirk, not the server's fault.)
    """
    if not _chat_stream(req, resp):
        return
    for _, chunk in resp.events:
        if isinstance(chunk, dict):
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta")
                if isinstance(delta, dict) and delta.get("content"):
                    delta["role"] = "assistant"


@benign("stream_empty_content_deltas", "json", scope=("chat",))
def stream_empty_content_deltas(req, resp):
    """Extra chunks whose delta is ``{"content": ""}`` between the real ones (vLLM sends them
    around special tokens).

    OpenAPI ``ChatCompletionStreamResponseDelta.content`` is a string or null, ``""`` included;
    nothing bounds the number of chunks. The empty chunk is inserted before the finish_reason.
    """
    if not _chat_stream(req, resp):
        return
    out = []
    for name, chunk in resp.events:
        if isinstance(chunk, dict) and len(chunk.get("choices") or []) == 1:
            choice = chunk["choices"][0]
            if choice.get("finish_reason") is None and isinstance((choice.get("delta") or {}).get("content"), str) and "role" not in choice["delta"]:
                empty = json.loads(json.dumps(chunk))
                empty["choices"][0]["delta"] = {"content": ""}
                empty["choices"][0].pop("logprobs", None)
                out.append([name, empty])
        out.append([name, chunk])
    resp.events[:] = out


@benign("stream_tool_arguments_whole", "json", scope=("chat",))
def stream_tool_arguments_whole(req, resp):
    """A streamed tool call arrives whole: id, type, name and the complete arguments in one delta
    (vLLM's and Ollama's style), not in fragments.

    OpenAPI ``ChatCompletionMessageToolCallChunk`` requires only ``index``; how the arguments are
    cut is the server's choice (openai-python's accumulator concatenates whatever fragments come).
    """
    if not _chat_stream(req, resp):
        return
    merged: dict[int, dict] = {}
    out = []
    for name, chunk in resp.events:
        calls = None
        if isinstance(chunk, dict) and len(chunk.get("choices") or []) == 1:
            calls = (chunk["choices"][0].get("delta") or {}).get("tool_calls")
        if not calls:
            out.append([name, chunk])
            continue
        keep = []
        for call in calls:
            index = call.get("index")
            if index in merged:
                merged[index]["function"]["arguments"] += (call.get("function") or {}).get("arguments") or ""
            else:
                call.setdefault("function", {}).setdefault("arguments", "")
                call["function"]["arguments"] = call["function"]["arguments"] or ""
                merged[index] = call
                keep.append(call)
        if keep:
            chunk["choices"][0]["delta"]["tool_calls"] = keep
            out.append([name, chunk])
    resp.events[:] = out


@benign("stream_choices_grouped", "json", scope=("chat",))
def stream_choices_grouped(req, resp):
    """With n > 1, consecutive deltas of different choices travel in one chunk (``choices`` holds several).

    OpenAPI ``CreateChatCompletionStreamResponse.choices``: "A list of chat completion choices. Can
    contain more than one elements if ``n`` is greater than 1"; each carries its ``index``.
    """
    if not _chat_stream(req, resp):
        return
    out: list[list[Any]] = []
    for name, chunk in resp.events:
        previous = out[-1][1] if out else None
        if (
            isinstance(chunk, dict) and isinstance(previous, dict)
            and len(chunk.get("choices") or []) == 1 and previous.get("choices")
            and chunk.get("usage") is None and previous.get("usage") is None
            and chunk["choices"][0].get("index") not in {c.get("index") for c in previous["choices"]}
        ):
            previous["choices"].append(chunk["choices"][0])
            continue
        out.append([name, chunk])
    resp.events[:] = out


@benign("tool_calls_content_empty_string", "json", scope=("chat",))
def tool_calls_content_empty_string(req, resp):
    """A message made of tool calls carries ``"content": ""`` instead of ``null`` (Ollama).

    OpenAPI ``ChatCompletionResponseMessage.content``: a string or null; ``""`` is a string. The
    suite's own call_shape check allows "null or absent" and the empty string.
    """
    if _endpoint(req) != "/chat/completions" or resp.events is not None or not _ok(resp):
        return
    body = resp.json
    if isinstance(body, dict):
        for choice in body.get("choices") or []:
            message = choice.get("message") or {}
            if message.get("tool_calls") and message.get("content") is None:
                message["content"] = ""
        resp.set_json(body)


@benign("responses_stream_done", "json", scope=("responses",))
def responses_stream_done(req, resp):
    """A Responses stream ends with ``data: [DONE]`` after the terminal event (LiteLLM's bridge,
    some vLLM versions).

    openai-python's ``Stream`` stops at a ``[DONE]`` payload whatever the endpoint
    (``if sse.data.startswith("[DONE]"): break``); the suite's own event-name check allows a final
    ``[DONE]``.
    """
    if _endpoint(req) == "/responses" and resp.events is not None and _ok(resp):
        if resp.events and resp.events[-1][1] != "[DONE]":
            resp.events.append([None, "[DONE]"])


@benign("responses_sequence_gaps", "json", scope=("responses",))
def responses_sequence_gaps(req, resp):
    """``sequence_number`` starts at 1 and grows by 2 (events of other streams interleaved upstream).

    OpenAPI: "The sequence number of this event" (``type: integer``); nothing says the numbers start
    at 0 or are consecutive, only their order matters.
    """
    if _endpoint(req) == "/responses" and resp.events is not None:
        for _, event in resp.events:
            if isinstance(event, dict) and isinstance(event.get("sequence_number"), int):
                event["sequence_number"] = 2 * event["sequence_number"] + 1


@benign("error_vendor_style", "json")
def error_vendor_style(req, resp):
    """Error envelopes as vLLM sends them: ``type`` ``"BadRequestError"`` / ``"NotFoundError"``,
    ``code`` the HTTP status as an integer.

    OpenAPI ``Error``: ``type`` is a free string; the profile (scaleway.yaml, ``error_envelope.code_types``)
    documents an integer ``code`` ("Scaleway's recent models send a numeric code").
    """
    if resp.status < 400 or resp.events is not None or not _is_json(resp):
        return
    body = resp.json
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        names = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError", 422: "UnprocessableEntityError"}
        body["error"]["type"] = names.get(resp.status, body["error"].get("type"))
        body["error"]["code"] = resp.status
        resp.set_json(body)


@benign("error_param_null", "json")
def error_param_null(req, resp):
    """Error envelopes with ``"param": null``: the message alone says which parameter is wrong.

    OpenAPI ``Error.param`` is ``type: [string, null]`` (required, nullable); OpenAI's own errors
    often carry ``null`` there. The reference server's messages name the parameter
    ("Invalid value for 'dimensions': ...").
    """
    if resp.status >= 400 and resp.events is None and _is_json(resp):
        body = resp.json
        if isinstance(body, dict) and isinstance(body.get("error"), dict) and "param" in body["error"]:
            body["error"]["param"] = None
            resp.set_json(body)


@benign("transcription_subtitle_variants", "json", scope=("transcriptions",))
def transcription_subtitle_variants(req, resp):
    """SRT with CRLF line ends; WebVTT with a header note, numbered cue identifiers and a NOTE block;
    plain text without the trailing newline.

    SRT has no formal standard and CRLF is its usual line end; W3C WebVTT §4.1: the ``WEBVTT``
    line may carry text after a space, a cue may start with an identifier line, ``NOTE`` blocks
    are comments; the ``text`` format is "the transcribed text" with no rule on a final newline.
    """
    if _endpoint(req) != "/audio/transcriptions" or not _ok(resp) or _is_json(resp):
        return
    text = resp.body.decode("utf-8")
    if text.startswith("WEBVTT"):
        blocks = [b for b in text.split("\n\n") if b.strip()]
        cues = [f"{n}\n{b}" for n, b in enumerate(blocks[1:], start=1)]
        text = "WEBVTT - transcript\n\nNOTE produced by a benign server\n\n" + "\n\n".join(cues) + "\n\n"
    elif "-->" in text:
        text = text.replace("\n", "\r\n")
    else:
        text = text.rstrip("\n")
    resp.body = text.encode("utf-8")


@benign("transcription_verbose_vllm_shape", "json", scope=("transcriptions",))
def transcription_verbose_vllm_shape(req, resp):
    """verbose_json as vLLM sends it: no ``task``, the language as an ISO code (``"en"``), no ``usage``.

    OpenAPI ``CreateTranscriptionResponseVerboseJson.required`` is ``[language, duration, text]``
    and ``task`` is not even among its properties (only in the example); ``language`` is "The
    language of the input audio", a string; ``usage`` is optional.
    """
    if _endpoint(req) != "/audio/transcriptions" or not _ok(resp) or not _is_json(resp):
        return
    body = resp.json
    if isinstance(body, dict) and "segments" in body:
        body.pop("task", None)
        body.pop("usage", None)
        body["language"] = {"english": "en", "french": "fr"}.get(body.get("language"), body.get("language"))
        resp.set_json(body)


@benign("webvtt_cr_line_ends", "json", scope=("transcriptions",))
def webvtt_cr_line_ends(req, resp):
    """WebVTT with lone CR line terminators.

    W3C WebVTT §4.1: "A WebVTT line terminator consists of one of the following: A U+000D
    CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair. A single U+000A LINE FEED (LF)
    character. A single U+000D CARRIAGE RETURN (CR) character."
    """
    if _endpoint(req) == "/audio/transcriptions" and _ok(resp) and resp.body.startswith(b"WEBVTT"):
        resp.body = resp.body.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


@benign("batches_list_without_cursor_ids", "json", scope=("batches",))
def batches_list_without_cursor_ids(req, resp):
    """Batch list pages without ``first_id`` and ``last_id``.

    OpenAPI ``ListBatchesResponse.required`` is ``[object, data, has_more]``; openai-python's
    ``SyncCursorPage`` pages on with ``after=data[-1].id`` and never reads ``first_id`` / ``last_id``.
    """
    if req.method == "GET" and _endpoint(req) == "/batches" and _ok(resp):
        body = resp.json
        if isinstance(body, dict):
            body.pop("first_id", None)
            body.pop("last_id", None)
            resp.set_json(body)


# == encoding stage ================================================================================
def _rewrite_strings(text: str, char: Callable[[str], str]) -> str:
    """``text`` (JSON) with each unescaped character inside string literals replaced by ``char(c)``."""
    out, i, n, inside = [], 0, len(text), False
    while i < n:
        c = text[i]
        if not inside:
            inside = c == '"'
            out.append(c)
        elif c == "\\":
            length = 6 if text[i + 1] == "u" else 2
            out.append(text[i:i + length])
            i += length
            continue
        elif c == '"':
            inside = False
            out.append(c)
        else:
            out.append(char(c))
        i += 1
    return "".join(out)


def _escape(c: str) -> str:
    if c == "/":
        return "\\/"
    if ord(c) > 0x7F:
        data = c.encode("utf-16-be")
        return "".join(f"\\u{int.from_bytes(data[j:j + 2], 'big'):04x}" for j in range(0, len(data), 2))
    if c in "aeiouAEIOU":
        return f"\\u{ord(c):04X}"
    return c


@benign("json_escapes", "encoding")
def json_escapes(req, resp):
    """Strings written with escapes: ``\\/`` for ``/``, ``\\uXXXX`` (surrogate pairs beyond the BMP) for
    every non-ASCII character, and ``\\u0061``-style escapes for vowels, keys included.

    RFC 8259 §7: "Any character may be escaped"; ``\\/`` is one of the two-character escapes;
    characters outside the Basic Multilingual Plane as "a 12-character sequence, encoding the
    UTF-16 surrogate pair". Every JSON parser decodes them to the same strings.
    """
    _text_docs(resp, lambda text: _rewrite_strings(text, _escape))


_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(\.\d+)?([eE][+-]?\d+)?')


def _float_exponent(match: re.Match) -> str:
    token = match.group(0)
    if token.startswith('"') or (match.group(1) is None and match.group(2) is None):
        return token  # a string, or an integer: integers stay integers
    return format(float(token), ".16E")


@benign("json_number_formats", "encoding")
def json_number_formats(req, resp):
    """Non-integer numbers in exponent form with a capital E and 17 significant digits
    (``0.5`` as ``5.0000000000000000E-01``); integers untouched.

    RFC 8259 §6: ``number = [ minus ] int [ frac ] [ exp ]``, ``e = %x65 / %x45``; 17 significant
    digits identify an IEEE-754 double exactly, so every parser reads the same value.
    """
    _text_docs(resp, lambda text: _NUMBER.sub(_float_exponent, text))


@benign("pretty_json", "encoding")
def pretty_json(req, resp):
    """Plain JSON bodies pretty-printed: two-space indentation, a space after ``:``, a final newline.

    RFC 8259 §2: "Insignificant whitespace is allowed before or after any of the six structural
    characters" and around the value (``JSON-text = ws value ws``). Stream payloads: see
    ``sse_multiline_data``.
    """
    if resp.events is None and _is_json(resp) and resp.body.strip():
        text = resp.body.decode("utf-8")
        resp.body = (_indent(text) + "\n").encode("utf-8")


def _indent(text: str) -> str:
    """Pretty-print JSON text without re-encoding its strings (their escapes are kept)."""
    out, depth, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "{[":
            close = "}" if c == "{" else "]"
            k = i + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] == close:
                out.append(c + close)
                i = k + 1
                continue
            depth += 1
            out.append(c + "\n" + "  " * depth)
        elif c in "}]":
            depth -= 1
            out.append("\n" + "  " * depth + c)
        elif c == ",":
            out.append(",\n" + "  " * depth)
        elif c == ":":
            out.append(": ")
        elif c not in " \t\r\n":
            out.append(c)
        i += 1
    return "".join(out)


@benign("sse_multiline_data", "encoding", scope=("chat", "responses"))
def sse_multiline_data(req, resp):
    """Stream payloads pretty-printed, so each JSON event spans several ``data:`` lines.

    WHATWG HTML §9.2.6: each ``data`` field "append[s] the field value to the data buffer, then
    append[s] a single U+000A LINE FEED"; the dispatched data is the buffer without its last LF,
    i.e. the lines joined by ``\\n`` — whitespace inside JSON (RFC 8259 §2). openai-python's
    ``SSEDecoder`` joins the ``data`` lines with ``"\\n"``.
    """
    if resp.events is not None:
        resp.events = [[name, data if data == "[DONE]" else _indent(data)] for name, data in resp.events]


# == framing stage =================================================================================
@benign("sse_line_endings", "framing", scope=("chat", "responses"))
def sse_line_endings(req, resp):
    """Events end their lines in CRLF, CR and LF in turn (each event keeps one style).

    WHATWG HTML §9.2.5: ``end-of-line = ( cr lf / cr / lf )``; §9.2.6 "Lines must be separated by
    either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE
    FEED (LF) character, or a single U+000D CARRIAGE RETURN (CR) character". openai-python's
    ``_SSELineDecoder`` splits on all three.
    """
    if resp.blocks is not None:
        for i, block in enumerate(resp.blocks):
            block.eol = ("\r\n", "\r", "\n")[i % 3]


@benign("sse_crlf", "framing", scope=("chat", "responses"), combined=False)
def sse_crlf(req, resp):
    """Every line of the stream ends in CRLF (sse-starlette's default; what ASP.NET and many proxies send).

    WHATWG HTML §9.2.5 ``end-of-line = ( cr lf / cr / lf )``. (Combined: ``sse_line_endings``.)
    """
    if resp.blocks is not None:
        for block in resp.blocks:
            block.eol = "\r\n"


@benign("sse_cr", "framing", scope=("chat", "responses"), combined=False)
def sse_cr(req, resp):
    """Every line of the stream ends in a lone CR.

    WHATWG HTML §9.2.5 ``end-of-line = ( cr lf / cr / lf )``. (Combined: ``sse_line_endings``.)
    """
    if resp.blocks is not None:
        for block in resp.blocks:
            block.eol = "\r"


@benign("sse_id_retry", "framing", scope=("chat", "responses"))
def sse_id_retry(req, resp):
    """An ``id:`` line in every event and a ``retry:`` line in the first one.

    WHATWG HTML §9.2.6: field ``id`` sets the last event ID buffer, field ``retry`` the
    reconnection time; neither is data. openai-python's ``SSEDecoder`` reads both.
    """
    if resp.blocks is None:
        return
    n = 0
    for block in resp.blocks:
        if any(line.startswith("data") for line in block.lines):
            n += 1
            block.lines.append(f"id: {n}")
            if n == 1:
                block.lines.insert(0, "retry: 3000")


@benign("sse_comments", "framing", scope=("chat", "responses"))
def sse_comments(req, resp):
    """Comment lines: a ``: connected`` block first, ``: ping`` keep-alive blocks between events,
    a comment line inside each event, and a spare blank line now and then.

    WHATWG HTML §9.2.6: "If the line starts with a U+003A COLON character (:) Ignore the line";
    "If the line is empty (a blank line) Dispatch the event" — and dispatching with an empty data
    buffer does nothing (§9.2.6, dispatch step 2). §9.2.7: "Legacy proxy servers are known to, in
    certain cases, drop HTTP connections after a short timeout. To protect against such proxy
    servers, authors can include a comment line (one starting with a ':' character) every 15
    seconds or so."
    """
    if resp.blocks is None:
        return
    # Once an ``id:`` was seen, openai-python's SSEDecoder dispatches an empty event at a lone
    # blank line (and fails to parse it): with ids (``sse_id_retry``) the keep-alives ride inside
    # the next event instead of standing alone.
    has_ids = any(line.startswith("id") for block in resp.blocks for line in block.lines)
    out = [Block([": connected"], "\n")]
    for i, block in enumerate(resp.blocks):
        block.lines.insert(len(block.lines) // 2, ": in-event comment")
        if has_ids:
            block.lines.insert(0, ": ping - 2026-01-01 00:00:00")
        out.append(block)
        if not has_ids and i % 2 == 0:
            out.append(Block([": ping - 2026-01-01 00:00:00"], block.eol))
        if not has_ids and i % 3 == 1:
            out.append(Block([], block.eol))  # one more blank line: an empty dispatch, ignored
    if not has_ids:
        out.append(Block([": end of stream"], "\n"))  # after the last event (data: [DONE] for chat)
    resp.blocks[:] = out


@benign("sse_no_space", "framing", scope=("chat", "responses"))
def sse_no_space(req, resp):
    """Fields without the space after the colon: ``data:{...}``, ``event:response.created``.

    WHATWG HTML §9.2.6: "Collect the characters on the line after the first U+003A COLON
    character (:), and let value be that string. If value starts with a U+0020 SPACE character,
    remove it from value." — the space is optional.
    """
    if resp.blocks is not None:
        for block in resp.blocks:
            block.lines = [re.sub(r"^(data|event|id|retry): ", r"\1:", line) for line in block.lines]


@benign("sse_field_order", "framing", scope=("responses",))
def sse_field_order(req, resp):
    """Named events with their ``event:`` line after the ``data:`` lines.

    WHATWG HTML §9.2.6: the fields of an event are processed line by line into the data and event
    type buffers, and the event is dispatched at the blank line; their order does not matter.
    """
    if resp.blocks is not None:
        for block in resp.blocks:
            names = [line for line in block.lines if line.startswith("event")]
            block.lines = [line for line in block.lines if not line.startswith("event")] + names


@benign("sse_explicit_message_event", "framing", scope=("chat",))
def sse_explicit_message_event(req, resp):
    """Chat stream events named explicitly: ``event: message`` on some, an empty ``event:`` on others.

    WHATWG HTML §9.2.6: "If the event type buffer has a value other than the empty string, change
    the type of the newly created event to equal the value of the event type buffer" — an empty
    type is the default, ``message``; naming ``message`` outright is the same event.
    """
    if _endpoint(req) == "/chat/completions" and resp.blocks is not None:
        for i, block in enumerate(resp.blocks):
            if any(line.startswith("data") for line in block.lines) and not any(line.startswith("event") for line in block.lines):
                block.lines.insert(0, "event: message" if i % 2 == 0 else "event:")


@benign("sse_bom", "framing", scope=("chat", "responses"), combined=False, transports=("http",))
def sse_bom(req, resp):
    """The stream starts with a UTF-8 byte-order mark.

    WHATWG HTML §9.2.5: ``stream = [ bom ] *event``; §9.2.6 "One leading U+FEFF BYTE ORDER MARK
    character must be ignored if any are present." Judged through the http transport only:
    openai-python's ``SSEDecoder`` does not strip it and loses the first event (see the report).
    """
    if resp.blocks is not None:
        resp.bom = True


# == transport stage ===============================================================================
@benign("content_type_parameters", "transport")
def content_type_parameters(req, resp):
    """Media types with parameters and in other letter cases: ``application/json; charset=utf-8``,
    ``application/json;charset="UTF-8"`` for errors, ``Text/Event-Stream; Charset=UTF-8``,
    ``text/plain; charset=utf-8``, ``text/vtt; charset=utf-8`` and ``application/x-subrip`` for subtitles.

    RFC 9110 §8.3.1: "The type and subtype tokens are case-insensitive"; parameters follow
    (``media-type = type "/" subtype parameters``), "The parameter name token is
    case-insensitive", a value may be a quoted-string, and "charset=utf-8" / "charset=UTF-8" /
    "charset="utf-8"" are equivalent. (JSON media types stay lower-case: openai-python's generic
    ``client.post`` only parses a type ending in ``json``, case-sensitively.)
    """
    kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        resp.headers["content-type"] = "application/json; charset=utf-8" if _ok(resp) else 'application/json;charset="UTF-8"'
    elif kind == "text/event-stream":
        resp.headers["content-type"] = "Text/Event-Stream; Charset=UTF-8"
    elif kind == "text/plain":
        text = resp.body.decode("utf-8", "replace")
        if text.startswith("WEBVTT"):
            resp.headers["content-type"] = "text/vtt; charset=utf-8"
        elif "-->" in text:
            resp.headers["content-type"] = "application/x-subrip"
        else:
            resp.headers["content-type"] = "text/plain; charset=utf-8"


@benign("extra_headers", "transport")
def extra_headers(req, resp):
    """Headers a gateway adds: ``x-request-id``, ``openai-processing-ms``, ``vary``, ``server``,
    ``x-ratelimit-*``, and ``WWW-Authenticate`` on a 401.

    RFC 9110 §5.1: new fields "can be introduced without changing the protocol version if their
    defined semantics allow them to be safely ignored by recipients that do not recognize them";
    §15.5.2: "The server generating a 401 response MUST send a WWW-Authenticate header field".
    """
    resp.headers.update({
        "x-request-id": "req_7c3f0a", "openai-processing-ms": "12", "vary": "Origin, Accept-Encoding",
        "server": "benign-gateway/1.0", "x-ratelimit-remaining-requests": "999",
    })
    if resp.status == 401:
        resp.headers["www-authenticate"] = 'Bearer realm="api"'


@benign("gzip_content_encoding", "transport", combined=False)
def gzip_content_encoding(req, resp):
    """Bodies (event streams too) compressed with ``Content-Encoding: gzip`` whenever the request's
    ``Accept-Encoding`` allows gzip (nginx and Cloudflare in front of vLLM do this).

    RFC 9110 §8.4: "Content-Encoding ... indicate[s] what content codings have been applied"; §12.5.3:
    a server may apply a coding the request's ``Accept-Encoding`` lists. httpx (under both
    transports) sends ``Accept-Encoding: gzip, deflate`` and decodes the body; the openai
    transport's tee (transport/sdk.py) undoes the coding before judging the wire bytes. Not in the
    combined server (it rewrites the bytes every other variant produces); run alone it must pass.
    """
    accepted = [part.split(";")[0].strip().lower() for part in req.headers.get("accept-encoding", "").split(",")]
    if "gzip" in accepted and resp.body:
        resp.body = gzip.compress(resp.body)
        resp.headers["content-encoding"] = "gzip"
        resp.headers["vary"] = "Accept-Encoding"


@benign("chunked_transfer", "transport")
def chunked_transfer(req, resp):
    """Bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length), cut into 7-byte pieces —
    through a CRLF, a multi-byte UTF-8 character, a JSON token.

    RFC 9112 §7.1: chunked transfer coding "wraps content in order to transfer it as a series of
    chunks"; the chunk boundaries carry no meaning (RFC 9110 §6.4: the content is the
    reassembled data). WHATWG HTML §9.2.6 parses the decoded stream, whatever the network cuts.
    """
    body = resp.body
    resp.pieces = [body[i:i + 7] for i in range(0, len(body), 7)] or [b""]


@benign("header_name_case", "transport")
def header_name_case(req, resp):
    """Response header names in mixed case (``Content-Type``, ``X-Request-Id``, ``CONTENT-ENCODING``).

    RFC 9110 §5.1: "Field names are case-insensitive". (Registered last: it renames what the other
    transport variants set.)
    """
    renamed = {}
    for key, value in resp.headers.items():
        name = key.upper() if key == "content-encoding" else "-".join(part.capitalize() for part in key.split("-"))
        renamed[name] = value
    resp.headers = renamed
