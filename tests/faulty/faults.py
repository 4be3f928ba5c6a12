"""The faults: each breaks one contract of the reference server, and names the checks that must catch it."""

from __future__ import annotations

import json

from . import Req, Resp, error, fault


def _is_chat(req: Req) -> bool:
    return req.method == "POST" and req.path == "/chat/completions"


def _chat_json(req: Req, resp: Resp) -> dict | None:
    """The body of a successful non-streamed chat completion, or None."""
    if _is_chat(req) and resp.status == 200 and not resp.is_stream:
        return resp.json
    return None


def _chunks(resp: Resp) -> list:
    return [json.loads(p) if p != "[DONE]" else p for p in resp.events()]


def _set_chunks(resp: Resp, chunks: list, sep: str = "\n\n") -> None:
    resp.set_events([c if c == "[DONE]" else json.dumps(c) for c in chunks], sep)


def _plain_text(req: Req) -> bool:
    """A chat request with text only: no response_format, tools, tool results, images or audio."""
    body = req.json if isinstance(req.json, dict) else {}
    if body.get("response_format") or body.get("tools"):
        return False
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") == "tool":
            return False
        content = message.get("content")
        if isinstance(content, list) and any(not isinstance(p, dict) or p.get("type") != "text" for p in content):
            return False
    return True


def _stream(req: Req, resp: Resp) -> bool:
    return _is_chat(req) and resp.status == 200 and resp.is_stream


# -- /v1/models ---------------------------------------------------------------------------------
@fault("models_list_object_wrong", "models.list.shape")
def models_list_object_wrong(req, resp):
    """GET /models answers {"object": "models", ...}."""
    if req.path == "/models" and resp.status == 200:
        body = resp.json
        body["object"] = "models"
        resp.set_json(body)


@fault(
    "models_redirect",
    "http.status_success",
)
def models_redirect(req, resp):
    """GET /models answers 302 to another location instead of the list."""
    if req.path == "/models" and resp.status == 200:
        resp.status = 302
        resp.headers["location"] = "/elsewhere"


@fault("models_list_hides_configured", "models.list.includes_configured")
def models_list_hides_configured(req, resp):
    """GET /models leaves out the chat model the run is configured with."""
    if req.path == "/models" and resp.status == 200:
        body = resp.json
        body["data"] = [m for m in body["data"] if not m["id"].startswith("mistral-small")]
        resp.set_json(body)


@fault("models_retrieve_wrong_id", {"models.retrieve.shape", "models.retrieve.each_configured"})
def models_retrieve_wrong_id(req, resp):
    """GET /models/{id} returns another model's object."""
    if req.path.startswith("/models/") and resp.status == 200:
        body = resp.json
        body["id"] = "some-other-model"
        resp.set_json(body)


@fault("models_retrieve_chat_only", "models.retrieve.each_configured")
def models_retrieve_chat_only(req):
    """GET /models/{id} answers 404 for listed models other than the chat model (the list still names them)."""
    if req.method == "GET" and req.path.startswith("/models/") and not req.path.startswith("/models/mistral-small"):
        return error(404, f"The model '{req.path[len('/models/'):]}' does not exist", param="model", code="model_not_found")
    return None


@fault("models_unknown_served", "errors.unknown_model_rejected")
def models_unknown_served(req, resp):
    """GET /models/{unknown} answers 200 with a made-up model."""
    if req.path.startswith("/models/") and resp.status == 404:
        resp.status = 200
        resp.headers["content-type"] = "application/json"
        resp.set_json({"id": req.path.rsplit("/", 1)[-1], "object": "model", "created": 1, "owned_by": "x"})


# -- auth ---------------------------------------------------------------------------------------
@fault("auth_not_required", "auth.missing_key_rejected", scope=None)
def auth_not_required(req):
    """Requests without an Authorization header are served as if authenticated."""
    if "authorization" not in req.headers:
        req.headers["authorization"] = "Bearer sk-faulty-server-key"


@fault("auth_any_key", "auth.wrong_key_rejected", scope=None)
def auth_any_key(req):
    """Any bearer token is accepted."""
    if req.headers.get("authorization", "").startswith("Bearer "):
        req.headers["authorization"] = "Bearer sk-faulty-server-key"


# -- errors -------------------------------------------------------------------------------------
@fault("errors_detail_envelope", "errors.envelope", scope=None)
def errors_detail_envelope(req, resp):
    """Errors come as FastAPI's {"detail": "..."} instead of the OpenAI envelope."""
    if resp.status >= 400:
        body = resp.json or {}
        resp.set_json({"detail": (body.get("error") or {}).get("message", "error")})


@fault("errors_text_plain", "errors.envelope", scope=None)
def errors_text_plain(req, resp):
    """Errors are served as text/plain."""
    if resp.status >= 400:
        resp.headers["content-type"] = "text/plain; charset=utf-8"
        resp.body = ((resp.json or {}).get("error", {}).get("message", "error")).encode()


@fault("errors_code_missing", "errors.envelope", scope=None)
def errors_code_missing(req, resp):
    """The error object has no "code" and no "param" fields."""
    if resp.status >= 400:
        body = resp.json
        body["error"].pop("code", None)
        body["error"].pop("param", None)
        resp.set_json(body)


@fault("malformed_json_500", "errors.malformed_json_rejected", scope=None)
def malformed_json_500(req):
    """A JSON request whose body is not JSON crashes the server: 500."""
    if req.method == "POST" and req.body and req.json is None and not req.headers.get("content-type", "").startswith("multipart/"):
        return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
    return None


@fault("wrong_types_500", "errors.invalid_request_rejected", scope=None)
def wrong_types_500(req):
    """A string where a number belongs crashes the server: 500."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and any(isinstance(body.get(k), str) for k in ("temperature", "max_tokens")):
        return Resp(500, {"content-type": "application/json"}, b'{"error": {"message": "internal error", "type": "server_error", "param": null, "code": null}}')
    return None


@fault("wrong_types_accepted", "errors.invalid_request_rejected", scope=None)
def wrong_types_accepted(req):
    """temperature: "hot" is silently dropped and the request served."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and isinstance(body.get("temperature"), str):
        body.pop("temperature")
        req.set_json(body)


@fault("errors_unnamed", "errors.names_parameter", scope=None)
def errors_unnamed(req, resp):
    """Errors say only "Bad request" and never name the parameter."""
    if resp.status == 400:
        resp.set_json({"error": {"message": "Bad request", "type": "invalid_request_error", "param": None, "code": None}})


@fault("chat_unknown_model_served", "errors.unknown_model_rejected")
def chat_unknown_model_served(req):
    """A chat request naming an unknown model is silently served by the default model."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and body.get("model") == "conformance-no-such-model":
        body["model"] = "mistral-small-3.2-24b-instruct-2506"
        req.set_json(body)


# -- unsupported parameters ----------------------------------------------------------------------
@fault("unsupported_metadata_accepted", "unsupported.parameter_refused", scope=None)
def unsupported_metadata_accepted(req):
    """`metadata` (documented unsupported) is silently dropped and the request served."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and "metadata" in body:
        body.pop("metadata")
        req.set_json(body)


@fault("unsupported_obfuscation_accepted", "unsupported.parameter_refused")
def unsupported_obfuscation_accepted(req):
    """stream_options.include_obfuscation is silently ignored."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and isinstance(body.get("stream_options"), dict):
        body["stream_options"].pop("include_obfuscation", None)
        req.set_json(body)


# -- chat, non-streamed --------------------------------------------------------------------------
@fault("chat_role_bot", {"chat.response.schema", "chat.message.role_and_content"})
def chat_role_bot(req, resp):
    """The assistant message has role "bot"."""
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            choice["message"]["role"] = "bot"
        resp.set_json(body)


@fault("chat_object_wrong", {"chat.response.object", "chat.response.schema"})
def chat_object_wrong(req, resp):
    """The completion says object "chat.completions"."""
    body = _chat_json(req, resp)
    if body:
        body["object"] = "chat.completions"
        resp.set_json(body)


@fault("chat_usage_total_wrong", "chat.usage.arithmetic")
def chat_usage_total_wrong(req, resp):
    """usage.total_tokens is not prompt + completion."""
    body = _chat_json(req, resp)
    if body and body.get("usage"):
        body["usage"]["total_tokens"] += 3
        resp.set_json(body)


@fault("chat_finish_reason_eos", {"chat.finish_reason.stop", "chat.response.schema"})
def chat_finish_reason_eos(req, resp):
    """finish_reason "eos" instead of "stop"."""
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            if choice["finish_reason"] == "stop":
                choice["finish_reason"] = "eos"
        resp.set_json(body)


@fault("chat_content_type_text", "http.json_body")
def chat_content_type_text(req, resp):
    """A JSON completion is labelled text/plain."""
    if _chat_json(req, resp):
        resp.headers["content-type"] = "text/plain"


@fault("chat_max_tokens_ignored", "chat.max_tokens.honoured")
def chat_max_tokens_ignored(req):
    """max_tokens and max_completion_tokens are dropped: long answers are never cut."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and not body.get("stream"):
        changed = False
        for key in ("max_tokens", "max_completion_tokens"):
            if isinstance(body.get(key), int):
                body.pop(key)
                changed = True
        if changed:
            req.set_json(body)


@fault("chat_length_reported_as_stop", "chat.max_tokens.honoured")
def chat_length_reported_as_stop(req, resp):
    """Truncated answers say finish_reason "stop" instead of "length"."""
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            if choice["finish_reason"] == "length":
                choice["finish_reason"] = "stop"
        resp.set_json(body)


@fault("chat_stop_ignored", "chat.stop.honoured")
def chat_stop_ignored(req):
    """stop sequences are ignored."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and "stop" in body:
        body.pop("stop")
        req.set_json(body)


@fault("chat_n_ignored", "chat.n.choices", collateral={"chat.stream.single_finish_reason"})
def chat_n_ignored(req):
    """n is ignored: one choice only."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and body.get("n", 1) > 1:
        body.pop("n")
        req.set_json(body)


@fault("chat_top_logprobs_ignored", "chat.logprobs.shape")
def chat_top_logprobs_ignored(req, resp):
    """logprobs come without the asked top_logprobs alternatives."""
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                entry["top_logprobs"] = []
        resp.set_json(body)


@fault("chat_logprobs_positive", {"chat.logprobs.shape"})
def chat_logprobs_positive(req, resp):
    """logprob values are positive probabilities instead of log-probabilities."""
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                entry["logprob"] = 0.9
        resp.set_json(body)


@fault("chat_message_empty", {"chat.message.role_and_content", "chat.message.follows_instruction"}, collateral={"chat.logprobs.shape", "chat.max_tokens.honoured", "chat.stream.matches_nonstream"})
def chat_message_empty(req, resp):
    """The answer's content is an empty string (plain-text requests)."""
    body = _chat_json(req, resp)
    if body and _plain_text(req):
        for choice in body["choices"]:
            choice["message"]["content"] = ""
        resp.set_json(body)


@fault("chat_ignores_prompt", "chat.message.follows_instruction", collateral={"chat.logprobs.shape", "chat.stream.matches_nonstream"})
def chat_ignores_prompt(req, resp):
    """Every plain-text answer is the same canned sentence (a model that ignores the prompt)."""
    body = _chat_json(req, resp)
    if body and _plain_text(req):
        for choice in body["choices"]:
            choice["message"]["content"] = "I am a helpful assistant."
        resp.set_json(body)


# -- chat, streamed ------------------------------------------------------------------------------
@fault("stream_no_done", "chat.stream.done_terminator")
def stream_no_done(req, resp):
    """The stream ends without `data: [DONE]`."""
    if _stream(req, resp):
        _set_chunks(resp, [c for c in _chunks(resp) if c != "[DONE]"])


@fault("stream_done_twice", "chat.stream.done_terminator")
def stream_done_twice(req, resp):
    """`data: [DONE]` is sent twice."""
    if _stream(req, resp):
        _set_chunks(resp, _chunks(resp) + ["[DONE]"])


@fault("stream_json_content_type", "chat.stream.content_type", collateral={"chat.stream.chunk_schema", "chat.stream.done_terminator", "chat.stream.framing", "chat.stream.include_usage", "chat.stream.role_first", "chat.stream.single_finish_reason", "chat.structured.stream_schema_valid", "chat.tools.stream_deltas"})
def stream_json_content_type(req, resp):
    """The event stream is labelled application/json."""
    if _stream(req, resp):
        resp.headers["content-type"] = "application/json"


@fault("stream_single_newline", "chat.stream.framing", collateral={"chat.stream.chunk_schema", "chat.stream.done_terminator", "chat.stream.role_first", "chat.stream.single_finish_reason", "chat.structured.stream_schema_valid", "chat.tools.stream_deltas", "sdk.accepts_response"})
def stream_single_newline(req, resp):
    """Events are separated by one newline instead of a blank line."""
    if _stream(req, resp):
        _set_chunks(resp, _chunks(resp), sep="\n")


@fault("stream_ids_change", "chat.stream.single_id")
def stream_ids_change(req, resp):
    """Every chunk carries a new id."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for i, chunk in enumerate(chunks):
            if isinstance(chunk, dict):
                chunk["id"] = f"chatcmpl-{i}"
        _set_chunks(resp, chunks)


@fault("stream_no_role", "chat.stream.role_first")
def stream_no_role(req, resp):
    """No delta ever carries the role."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    choice["delta"].pop("role", None)
        _set_chunks(resp, chunks)


@fault("stream_finish_every_chunk", "chat.stream.single_finish_reason")
def stream_finish_every_chunk(req, resp):
    """Every content chunk carries finish_reason "stop"."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    if choice["delta"].get("content"):
                        choice["finish_reason"] = "stop"
        _set_chunks(resp, chunks)


@fault("stream_no_finish_reason", "chat.stream.single_finish_reason")
def stream_no_finish_reason(req, resp):
    """No chunk carries a finish_reason."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    choice["finish_reason"] = None
        _set_chunks(resp, chunks)


@fault("stream_usage_ignored", "chat.stream.include_usage")
def stream_usage_ignored(req):
    """stream_options.include_usage is ignored: no usage chunk."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and isinstance(body.get("stream_options"), dict) and "include_obfuscation" not in body["stream_options"]:
        body.pop("stream_options")
        req.set_json(body)


@fault("stream_usage_every_chunk", "chat.stream.include_usage")
def stream_usage_every_chunk(req, resp):
    """Usage (cumulative) rides on every chunk, as some dedicated deployments do."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        final = next((c["usage"] for c in chunks if isinstance(c, dict) and c.get("usage")), None)
        if final:
            for chunk in chunks:
                if isinstance(chunk, dict):
                    chunk["usage"] = final
            _set_chunks(resp, chunks)


@fault("stream_text_differs", "chat.stream.matches_nonstream", collateral={"chat.structured.stream_schema_valid"})
def stream_text_differs(req, resp):
    """Streamed deltas spell a different text than the non-streamed answer."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    if choice["delta"].get("content"):
                        choice["delta"]["content"] = choice["delta"]["content"].upper()
        _set_chunks(resp, chunks)


@fault("stream_chunk_object_wrong", "chat.stream.chunk_schema")
def stream_chunk_object_wrong(req, resp):
    """Chunks say object "chat.completion" instead of "chat.completion.chunk"."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                chunk["object"] = "chat.completion"
        _set_chunks(resp, chunks)


@fault("stream_error_event", {"sdk.accepts_response"}, collateral={"chat.stream.chunk_schema"}, transports=("openai",))
def stream_error_event(req, resp):
    """An {"error": ...} event arrives in the middle of every stream."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        chunks.insert(2, {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}})
        _set_chunks(resp, chunks)


# -- infrastructure trouble: never a fail --------------------------------------------------------
@fault("always_503", set(), outcome="error")
def always_503(req):
    """Every chat request gets 503 Service Unavailable (an overloaded gateway)."""
    if _is_chat(req):
        return error(503, "The server is overloaded")
    return None


@fault("always_500", set(), outcome="error")
def always_500(req):
    """Every chat request gets 500 (the server is broken as a whole, not by one request): the
    control request fails too, so nothing can be judged."""
    if _is_chat(req):
        return error(500, "Internal server error")
    return None


@fault("json_schema_500", {"chat.structured.schema_valid", "chat.structured.stream_schema_valid"}, collateral={"errors.invalid_request_rejected"})
def json_schema_500(req):
    """A request with response_format json_schema gets 500 every time (llama.cpp's grammar
    failures): the endpoint's simplest request is answered, so this request breaks the server (fail)."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and isinstance(body.get("response_format"), dict) and body["response_format"].get("type") == "json_schema":
        return error(500, "Failed to parse grammar")
    return None


@fault("assistant_null_content_500", {"chat.tools.result_accepted", "chat.tools.answer_uses_result"})
def assistant_null_content_500(req):
    """An assistant message with "content": null (beside its tool_calls, as the spec allows) gets
    500 every time (llama-cpp-python's validation): sending a tool result back breaks the server."""
    body = req.json
    if _is_chat(req) and isinstance(body, dict) and isinstance(body.get("messages"), list):
        if any(isinstance(m, dict) and m.get("role") == "assistant" and m.get("content", "") is None for m in body["messages"]):
            return error(500, "Internal server error")
    return None


# -- structured output ---------------------------------------------------------------------------
def _chat_body(req: Req) -> dict | None:
    body = req.json
    return body if _is_chat(req) and isinstance(body, dict) else None


@fault("json_mode_prose", {"chat.structured.json_object", "chat.structured.schema_valid", "chat.structured.stream_schema_valid"}, collateral={"errors.envelope", "errors.invalid_request_rejected"})
def json_mode_prose(req):
    """response_format is ignored: JSON mode and json_schema answers come back as prose."""
    body = _chat_body(req)
    if body and "response_format" in body:
        body.pop("response_format")
        req.set_json(body)


@fault("json_schema_missing_required", "chat.structured.schema_valid")
def json_schema_missing_required(req, resp):
    """json_schema answers lose their first property (a required one)."""
    body = _chat_json(req, resp)
    request = req.json or {}
    if body and (request.get("response_format") or {}).get("type") == "json_schema":
        for choice in body["choices"]:
            value = json.loads(choice["message"]["content"])
            if isinstance(value, dict) and value:
                value.pop(next(iter(value)))
            choice["message"]["content"] = json.dumps(value)
        resp.set_json(body)


@fault("json_stream_truncated", "chat.structured.stream_schema_valid")
def json_stream_truncated(req, resp):
    """A streamed json_schema answer loses its last content delta (the closing brace)."""
    if _stream(req, resp) and (req.json or {}).get("response_format"):
        chunks = _chunks(resp)
        last = max(i for i, c in enumerate(chunks) if isinstance(c, dict) and c["choices"] and c["choices"][0]["delta"].get("content"))
        chunks[last]["choices"][0]["delta"]["content"] = ""
        _set_chunks(resp, chunks)


@fault("response_format_invalid_accepted", {"errors.invalid_request_rejected"})
def response_format_invalid_accepted(req):
    """An unknown response_format type, or json_schema without a schema, is treated as plain text."""
    body = _chat_body(req)
    fmt = (body or {}).get("response_format")
    if isinstance(fmt, dict) and (fmt.get("type") not in ("text", "json_object", "json_schema") or (fmt.get("type") == "json_schema" and "schema" not in (fmt.get("json_schema") or {}))):
        body.pop("response_format")
        req.set_json(body)


# -- tools ---------------------------------------------------------------------------------------
def _edit_calls(req: Req, resp: Resp, edit) -> None:
    body = _chat_json(req, resp)
    if body:
        for choice in body["choices"]:
            if choice["message"].get("tool_calls"):
                edit(choice)
        resp.set_json(body)


def _set_tool_choice(req: Req, when, value) -> None:
    body = _chat_body(req)
    if body and "tools" in body and when(body.get("tool_choice")):
        body["tool_choice"] = value
        req.set_json(body)


@fault("tool_arguments_object", "chat.tools.call_shape")
def tool_arguments_object(req, resp):
    """function.arguments is a JSON object instead of a JSON string."""
    def edit(choice):
        for call in choice["message"]["tool_calls"]:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    _edit_calls(req, resp, edit)


@fault("tool_call_without_id", "chat.tools.call_shape")
def tool_call_without_id(req, resp):
    """Tool calls carry no id."""
    def edit(choice):
        for call in choice["message"]["tool_calls"]:
            call.pop("id", None)
    _edit_calls(req, resp, edit)


@fault("tool_call_with_text", "chat.tools.call_shape")
def tool_call_with_text(req, resp):
    """A tool-call answer also carries prose content."""
    def edit(choice):
        choice["message"]["content"] = "Let me look that up."
    _edit_calls(req, resp, edit)


@fault("tool_finish_reason_stop", "chat.tools.finish_reason", collateral={"chat.tools.stream_deltas"})
def tool_finish_reason_stop(req, resp):
    """Answers with tool calls say finish_reason "stop"."""
    def edit(choice):
        choice["finish_reason"] = "stop"
    _edit_calls(req, resp, edit)
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    if choice.get("finish_reason") == "tool_calls":
                        choice["finish_reason"] = "stop"
        _set_chunks(resp, chunks)


@fault("tool_stream_without_index", {"chat.tools.stream_deltas"})
def tool_stream_without_index(req, resp):
    """Streamed tool_calls deltas carry no index (crashes the openai SDK's accumulator)."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    for delta in choice["delta"].get("tool_calls") or []:
                        delta.pop("index", None)
        _set_chunks(resp, chunks)


@fault("tool_choice_none_ignored", "chat.tools.not_called")
def tool_choice_none_ignored(req):
    """tool_choice "none" is treated as "auto": the tool is called anyway."""
    _set_tool_choice(req, lambda c: c == "none", "auto")


@fault("tool_choice_required_ignored", {"chat.tools.called"})
def tool_choice_required_ignored(req):
    """tool_choice "required" is treated as "auto": a prompt that needs no tool gets none."""
    _set_tool_choice(req, lambda c: c == "required", "auto")


@fault("tool_choice_named_ignored", "chat.tools.called", collateral={"errors.envelope", "errors.invalid_request_rejected"})
def tool_choice_named_ignored(req):
    """A named tool_choice is treated as "auto": the prompt's tool is called instead."""
    _set_tool_choice(req, lambda c: isinstance(c, dict), "auto")


@fault("tool_parallel_single_call", "chat.tools.parallel_calls")
def tool_parallel_single_call(req, resp):
    """Only the first of several tool calls is returned."""
    def edit(choice):
        choice["message"]["tool_calls"] = choice["message"]["tool_calls"][:1]
    _edit_calls(req, resp, edit)


@fault("tool_result_refused", {"chat.tools.result_accepted", "chat.tools.answer_uses_result"})
def tool_result_refused(req):
    """A conversation containing a role "tool" message is refused."""
    body = _chat_body(req)
    if body and any(isinstance(m, dict) and m.get("role") == "tool" for m in body.get("messages") or []):
        return error(400, "Unsupported role: tool", param="messages")
    return None


@fault("tool_result_ignored", "chat.tools.answer_uses_result")
def tool_result_ignored(req, resp):
    """The answer after a tool result ignores it."""
    body = _chat_json(req, resp)
    request = req.json or {}
    if body and any(isinstance(m, dict) and m.get("role") == "tool" for m in request.get("messages") or []):
        for choice in body["choices"]:
            choice["message"]["content"] = "I could not find that information."
        resp.set_json(body)


@fault("custom_tool_accepted", "chat.tools.custom_refused")
def custom_tool_accepted(req):
    """Tools of type custom are silently dropped and the request served."""
    body = _chat_body(req)
    if body and body.get("tools"):
        kept = [t for t in body["tools"] if isinstance(t, dict) and t.get("type") == "function"]
        if len(kept) != len(body["tools"]):
            if kept:
                body["tools"] = kept
            else:
                body.pop("tools")
            req.set_json(body)


# -- images --------------------------------------------------------------------------------------
def _images(body: dict) -> list[dict]:
    parts = []
    for message in body.get("messages") or []:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            parts += [p for p in message["content"] if isinstance(p, dict) and p.get("type") == "image_url"]
    return parts


def _edit_images(req: Req, edit) -> None:
    body = _chat_body(req)
    if body and _images(body):
        for message in body["messages"]:
            if isinstance(message.get("content"), list):
                message["content"] = edit(message["content"])
        req.set_json(body)


_VISION = {"http.status_success", "sdk.accepts_response", "chat.response.schema", "chat.message.role_and_content", "chat.vision.describes_image"}


@fault("image_ignored", "chat.vision.describes_image", collateral={"chat.vision.format_refused", "chat.vision.image_limit_enforced", "errors.envelope"})
def image_ignored(req):
    """Image parts are dropped: the model answers without seeing them."""
    _edit_images(req, lambda parts: [p for p in parts if p.get("type") != "image_url"])


@fault("image_parts_refused", _VISION)
def image_parts_refused(req):
    """Any request with an image part is refused with 400."""
    body = _chat_body(req)
    if body and _images(body):
        return error(400, "Image input is not supported", param="messages")
    return None


@fault("image_bad_formats_accepted", "chat.vision.format_refused")
def image_bad_formats_accepted(req):
    """SVG, PDF and animated GIF images are silently swapped for a decodable one and answered."""
    from conformance.cases import data_uri

    def edit(parts):
        for part in parts:
            url = (part.get("image_url") or {}).get("url", "") if part.get("type") == "image_url" else ""
            if url.startswith(("data:image/svg", "data:application/pdf")) or url == data_uri("animated.gif"):
                part["image_url"]["url"] = data_uri("red.png")
        return parts

    _edit_images(req, edit)


@fault("image_limit_ignored", "chat.vision.image_limit_enforced")
def image_limit_ignored(req):
    """Images past the twelfth are silently dropped instead of refused."""
    def edit(parts):
        out, seen = [], 0
        for part in parts:
            if part.get("type") == "image_url":
                seen += 1
                if seen > 12:
                    continue
            out.append(part)
        return out

    _edit_images(req, edit)


@fault("image_url_unfetched", _VISION)
def image_url_unfetched(req):
    """Images given by http(s) URL are refused (only data: URIs work)."""
    body = _chat_body(req)
    if body and any(str((p.get("image_url") or {}).get("url", "")).startswith("http") for p in _images(body)):
        return error(400, "Could not fetch image", param="messages[0].content[1].image_url")
    return None


# -- audio ---------------------------------------------------------------------------------------
def _has_audio(body: dict) -> bool:
    return any(
        isinstance(p, dict) and p.get("type") == "input_audio"
        for m in body.get("messages") or []
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for p in m["content"]
    )


@fault("audio_ignored", "chat.audio.transcribes", collateral={"errors.envelope", "errors.invalid_request_rejected"})
def audio_ignored(req):
    """input_audio parts are dropped: the model answers without hearing them."""
    body = _chat_body(req)
    if body and _has_audio(body):
        for message in body["messages"]:
            if isinstance(message.get("content"), list):
                message["content"] = [p for p in message["content"] if p.get("type") != "input_audio"]
        req.set_json(body)


@fault("audio_parts_refused", {"http.status_success", "sdk.accepts_response", "chat.response.schema", "chat.message.role_and_content", "chat.audio.transcribes"})
def audio_parts_refused(req):
    """Any request with an input_audio part is refused with 400."""
    body = _chat_body(req)
    if body and _has_audio(body):
        return error(400, "Audio input is not supported", param="messages")
    return None
