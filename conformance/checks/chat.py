"""Checks on non-streamed chat completions: schema, message, finish_reason, usage, parameters."""

from __future__ import annotations

import re

from . import Failure, check, json_object, require, require_semantic, short

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


def choices(ex) -> list:
    body = json_object(ex)
    items = body.get("choices")
    require(isinstance(items, list) and items, f"choices must be a non-empty array, got {short(items)}")
    for item in items:
        require(isinstance(item, dict), f"a choice is not an object: {short(item)}")
    return items


def first_content(ex) -> str:
    message = choices(ex)[0].get("message")
    require(isinstance(message, dict), f"choices[0].message is not an object: {short(message)}")
    content = message.get("content")
    require(isinstance(content, str), f"choices[0].message.content is not a string: {short(content)}")
    return content


def usage_numbers(usage) -> tuple[int, int, int]:
    require(isinstance(usage, dict), f"usage must be an object, got {short(usage)}")
    values = []
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"usage.{key} must be a non-negative integer, got {short(value)}")
        values.append(value)
    prompt, completion, total = values
    require(total == prompt + completion, f"usage.total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}")
    return prompt, completion, total


def normalise(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text).strip().lower()


# -- protocol, not model: what finish_reason "length" may and may not excuse -------------------------
# A model may run into max_tokens whatever it was asked (a random-weight model always does): then
# finish_reason "length" is the right answer and what the model did not finish is *its* doing, a
# semantic finding. The server's part is to say "length" exactly when the output reached the limit:
# "length" below the limit (as far as usage tells) and "stop" at the limit are protocol faults.
# With n > 1 usage sums the choices: only "below the limit" can be told (the sum is below it).


def output_limit(request_body) -> int | None:
    """The request's output token limit (the smaller of max_tokens and max_completion_tokens), or None."""
    body = request_body if isinstance(request_body, dict) else {}
    limits = [body.get(k) for k in ("max_tokens", "max_completion_tokens")]
    limits = [v for v in limits if isinstance(v, int) and not isinstance(v, bool)]
    return min(limits) if limits else None


def completion_tokens(ex) -> int | None:
    """usage.completion_tokens of the answer (a stream's last usage chunk), or None when not reported."""
    usage = ex.json.get("usage") if isinstance(ex.json, dict) else None
    if usage is None and ex.chunks:
        usage = next((c["usage"] for c in reversed(ex.chunks) if isinstance(c, dict) and isinstance(c.get("usage"), dict)), None)
    value = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ran_to_limit(ex) -> bool | None:
    """Whether the output reached the request's token limit; None when there is no limit or no usage to tell."""
    limit, used = output_limit(ex.request.body), completion_tokens(ex)
    if limit is None or used is None:
        return None
    n = (ex.request.body or {}).get("n") if isinstance(ex.request.body, dict) else None
    if isinstance(n, int) and n > 1:
        # usage sums the choices: below the limit in sum is below it in each; at or above says nothing
        return False if used < limit else None
    return used >= limit


def require_length_at_limit(ex, where: str) -> None:
    """finish_reason "length" must mean the output reached max_tokens (when usage can tell)."""
    if ran_to_limit(ex) is False:
        raise Failure(f'{where}.finish_reason is "length" but usage.completion_tokens {completion_tokens(ex)} is below the limit {output_limit(ex.request.body)}')


def require_stop_below_limit(ex, where: str) -> None:
    """finish_reason "stop" must mean the output ended before max_tokens (when usage can tell)."""
    if ran_to_limit(ex):
        raise Failure(f'{where}.finish_reason is "stop" but usage.completion_tokens {completion_tokens(ex)} reached the limit {output_limit(ex.request.body)}: a cut answer says "length"')


def cut_at_limit(ex, reason) -> bool:
    """The answer was cut at max_tokens: finish_reason "length" (checked against usage: a fail when below the limit)."""
    if reason != "length":
        return False
    require_length_at_limit(ex, "the choice")
    return True


def limit_text(ex) -> str:
    limit, used = output_limit(ex.request.body), completion_tokens(ex)
    return f"{used if used is not None else '?'} of max_tokens {limit if limit is not None else '(none)'}"


@check("chat.response.schema", source="openapi: #/components/schemas/CreateChatCompletionResponse")
def response_schema(ctx, ex):
    """The chat.completion body is valid against the OpenAPI CreateChatCompletionResponse schema."""
    ctx.require_schema("CreateChatCompletionResponse", ex.json)


@check("chat.response.object", source="openapi: #/components/schemas/CreateChatCompletionResponse (id, object, created and model required)")
def response_object(ctx, ex):
    """The body is a chat.completion: object, non-empty id, integer created, the model named."""
    body = json_object(ex)
    require(body.get("object") == "chat.completion", f'object is {short(body.get("object"))}, expected "chat.completion"')
    require(isinstance(body.get("id"), str) and body["id"], f"id must be a non-empty string, got {short(body.get('id'))}")
    created = body.get("created")
    require(isinstance(created, int) and not isinstance(created, bool) and created > 0, f"created must be a Unix timestamp, got {short(created)}")
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")


@check("chat.message.role_and_content", source="openapi: #/components/schemas/ChatCompletionResponseMessage (role and content required)")
def role_and_content(ctx, ex):
    """Each choice's message has role "assistant" and string content (non-empty: a semantic finding, the model may say nothing)."""
    empty = []
    for i, choice in enumerate(choices(ex)):
        message = choice.get("message")
        require(isinstance(message, dict), f"choices[{i}].message is not an object: {short(message)}")
        require(message.get("role") == "assistant", f'choices[{i}].message.role is {short(message.get("role"))}, expected "assistant"')
        content = message.get("content")
        require(isinstance(content, str), f"choices[{i}].message.content must be a string, got {short(content)}")
        if not content.strip():
            empty.append(f"choices[{i}] (finish_reason {short(choice.get('finish_reason'))})")
    require_semantic(not empty, f"the model answered with empty content in {', '.join(empty)}; {limit_text(ex)} tokens")


@check("chat.message.follows_instruction", semantic=True, source="profile: endpoints.chat.features core (the answer follows the prompt)")
def follows_instruction(ctx, ex):
    """The answer contains what the prompt asked for (a model-quality check)."""
    expected = ctx.params["expected"]
    content = first_content(ex)
    require(normalise(expected) in normalise(content), f"answer {short(content)} does not contain {expected!r}")


@check("chat.finish_reason.stop", source="openapi: #/components/schemas/CreateChatCompletionResponse/properties/choices/items/properties/finish_reason (stop at a natural stop point)")
def finish_reason_stop(ctx, ex):
    """A short answer that ends naturally has finish_reason "stop" in every choice ("length" at max_tokens: the model did not end, a semantic finding)."""
    ran_long = []
    for i, choice in enumerate(choices(ex)):
        reason = choice.get("finish_reason")
        require(reason in FINISH_REASONS, f"choices[{i}].finish_reason {short(reason)} is not one of {FINISH_REASONS}")
        if reason == "length":
            require_length_at_limit(ex, f"choices[{i}]")
            ran_long.append(i)
            continue
        require(reason == "stop", f'choices[{i}].finish_reason is {reason!r}, expected "stop"')
        require_stop_below_limit(ex, f"choices[{i}]")
    require_semantic(not ran_long, f'choices {ran_long} ran to max_tokens ({limit_text(ex)} tokens): "length" is right, the model did not end its answer')


@check("chat.usage.arithmetic", source="openapi: #/components/schemas/CompletionUsage (total_tokens = prompt + completion)")
def usage_arithmetic(ctx, ex):
    """usage has integer prompt/completion/total tokens, both positive, and total = prompt + completion."""
    require(isinstance(ex.json, dict) and "usage" in ex.json, "the response has no usage object")
    prompt, completion, _ = usage_numbers(ex.json["usage"])
    require(prompt > 0, "usage.prompt_tokens is 0 for a non-empty prompt")
    messages = [c.get("message") if isinstance(c.get("message"), dict) else {} for c in choices(ex)]
    said = any((isinstance(m.get("content"), str) and m["content"]) or m.get("tool_calls") for m in messages)
    # a model may end at once (an empty answer): only an answer that says something must count tokens
    require(completion > 0 or not said, "usage.completion_tokens is 0 for a non-empty answer")


@check("chat.max_tokens.honoured", source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/max_completion_tokens (an upper bound; finish_reason length when reached)")
def max_tokens_honoured(ctx, ex):
    """With a small max_tokens (or max_completion_tokens) a long answer is cut: at most that many tokens, finish_reason "length" when it reached the limit (a model that ends earlier: semantic)."""
    limit = ctx.params["limit"]
    choice = choices(ex)[0]
    content = first_content(ex)
    words = len(content.split())
    require(words <= limit, f"answer has {words} words, more than the {limit} tokens allowed: {short(content)}")
    usage = ex.json.get("usage")
    completion = None
    if usage is not None:
        _, completion, _ = usage_numbers(usage)
        require(completion <= limit, f"usage.completion_tokens is {completion}, more than the limit {limit}")
    reason = choice.get("finish_reason")
    if completion is not None and completion >= limit:
        require(reason == "length", f'finish_reason is {short(reason)}, expected "length": the answer reached the limit of {limit} tokens')
    elif completion is not None:
        require(reason != "length", f'finish_reason is "length" but usage.completion_tokens {completion} is below the limit {limit}')
        require_semantic(False, f"the model ended after {completion} of {limit} tokens (finish_reason {short(reason)}): nothing was cut, so the limit could not be observed")
    else:
        require_semantic(reason == "length", f"finish_reason is {short(reason)} and there is no usage to tell whether the answer reached the limit: the model may have ended early")
    require_semantic(content.strip(), f"the truncated answer is empty (finish_reason {short(reason)})")


@check("chat.stop.honoured", source="openapi: #/components/schemas/StopConfiguration (the returned text will not contain the stop sequence)")
def stop_honoured(ctx, ex):
    """A stop sequence never appears in the content; finish_reason is "stop", or "length" when the output reached max_tokens first (the model need not say the stop sequence)."""
    stops = ctx.params["stop"]
    stops = [stops] if isinstance(stops, str) else stops
    empty = []
    for i, choice in enumerate(choices(ex)):
        content = (choice.get("message") or {}).get("content")
        require(isinstance(content, str), f"choices[{i}].message.content must be a string, got {short(content)}")
        for stop in stops:
            require(stop not in content, f"choices[{i}].content contains the stop sequence {stop!r}: {short(content)}")
        reason = choice.get("finish_reason")
        require(reason in ("stop", "length"), f'choices[{i}].finish_reason is {short(reason)}, expected "stop" (or "length" at max_tokens)')
        if reason == "length":
            require_length_at_limit(ex, f"choices[{i}]")
        else:
            require_stop_below_limit(ex, f"choices[{i}]")
        if not content.strip():
            empty.append(i)
    require_semantic(not empty, f"choices {empty} have no content before the stop sequence: the model began with it")
    if any(c.get("finish_reason") == "length" for c in choices(ex)):
        return f"the output ran to max_tokens ({limit_text(ex)} tokens) without the stop sequence appearing"


@check("chat.n.choices", source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/n (n choices, each with its index)")
def n_choices(ctx, ex):
    """n=N returns exactly N choices with indexes 0..N-1, each with a message."""
    n = ctx.params["n"]
    items = choices(ex)
    require(len(items) == n, f"asked for n={n}, got {len(items)} choice(s)")
    indexes = sorted(c.get("index") for c in items if isinstance(c.get("index"), int))
    require(indexes == list(range(n)), f"choice indexes are {indexes}, expected {list(range(n))}")
    for i, choice in enumerate(items):
        require(isinstance((choice.get("message") or {}).get("content"), str), f"choices[{i}] has no message content")


@check("chat.logprobs.shape", source="openapi: #/components/schemas/ChatCompletionTokenLogprob (one per content token, with top_logprobs as asked)")
def logprobs_shape(ctx, ex):
    """logprobs=true gives one entry per token (token, logprob <= 0, bytes, top_logprobs of the asked length) and the tokens spell the content."""
    k = ctx.params.get("top_logprobs", 0)
    choice = choices(ex)[0]
    content = first_content(ex)
    logprobs = choice.get("logprobs")
    require(isinstance(logprobs, dict), f"choices[0].logprobs must be an object when logprobs=true, got {short(logprobs)}")
    entries = logprobs.get("content")
    # an empty answer (the model ended at once) may have no entries; any answer has one per token
    require(isinstance(entries, list) and (entries or not content), f"logprobs.content must be a non-empty array, got {short(entries)}")
    for i, entry in enumerate(entries):
        where = f"logprobs.content[{i}]"
        require(isinstance(entry, dict), f"{where} is not an object")
        token = entry.get("token")
        require(isinstance(token, str), f"{where}.token must be a string, got {short(token)}")
        lp = entry.get("logprob")
        require(isinstance(lp, (int, float)) and not isinstance(lp, bool) and lp <= 0, f"{where}.logprob must be a number <= 0, got {short(lp)}")
        raw = entry.get("bytes")
        if raw is not None:
            require(isinstance(raw, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in raw), f"{where}.bytes must be a list of byte values")
        top = entry.get("top_logprobs")
        require(isinstance(top, list), f"{where}.top_logprobs must be an array, got {short(top)}")
        require(len(top) == k, f"{where}.top_logprobs has {len(top)} entries, top_logprobs={k} was asked")
        for alt in top:
            require(isinstance(alt, dict) and isinstance(alt.get("token"), str) and isinstance(alt.get("logprob"), (int, float)) and alt["logprob"] <= 0, f"{where}.top_logprobs holds a malformed entry: {short(alt)}")
    if all(isinstance(e.get("bytes"), list) for e in entries):
        # tokens may split a UTF-8 character (a token string then reads "bytes:\\xe2"): their bytes spell it
        spelled = bytes(b for e in entries for b in e["bytes"]).decode("utf-8", errors="replace")
    else:
        spelled = "".join(e["token"] for e in entries)
    require(spelled.strip() == content.strip(), f"the logprob tokens spell {short(spelled)}, the content is {short(content)}")
