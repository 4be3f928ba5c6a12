"""Checks on non-streamed chat completions: schema, message, finish_reason, usage, parameters."""

from __future__ import annotations

import re

from . import check, require, short

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


def choices(ex) -> list:
    body = ex.json
    require(isinstance(body, dict), f"expected a JSON object, got {short(body)}")
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


@check("chat.response.schema")
def response_schema(ctx, ex):
    """The chat.completion body is valid against the OpenAPI CreateChatCompletionResponse schema."""
    ctx.require_schema("CreateChatCompletionResponse", ex.json)


@check("chat.response.object")
def response_object(ctx, ex):
    """The body is a chat.completion: object, non-empty id, integer created, the model named."""
    body = ex.json
    require(isinstance(body, dict), f"expected a JSON object, got {short(body)}")
    require(body.get("object") == "chat.completion", f'object is {short(body.get("object"))}, expected "chat.completion"')
    require(isinstance(body.get("id"), str) and body["id"], f"id must be a non-empty string, got {short(body.get('id'))}")
    created = body.get("created")
    require(isinstance(created, int) and not isinstance(created, bool) and created > 0, f"created must be a Unix timestamp, got {short(created)}")
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")


@check("chat.message.role_and_content")
def role_and_content(ctx, ex):
    """Each choice's message has role "assistant" and non-empty string content."""
    for i, choice in enumerate(choices(ex)):
        message = choice.get("message")
        require(isinstance(message, dict), f"choices[{i}].message is not an object: {short(message)}")
        require(message.get("role") == "assistant", f'choices[{i}].message.role is {short(message.get("role"))}, expected "assistant"')
        content = message.get("content")
        require(isinstance(content, str) and content.strip(), f"choices[{i}].message.content must be a non-empty string, got {short(content)}")


@check("chat.message.follows_instruction", semantic=True)
def follows_instruction(ctx, ex):
    """The answer contains what the prompt asked for (a model-quality check)."""
    expected = ctx.params["expected"]
    content = first_content(ex)
    require(normalise(expected) in normalise(content), f"answer {short(content)} does not contain {expected!r}")


@check("chat.finish_reason.stop")
def finish_reason_stop(ctx, ex):
    """A short answer that ends naturally has finish_reason "stop" in every choice."""
    for i, choice in enumerate(choices(ex)):
        reason = choice.get("finish_reason")
        require(reason in FINISH_REASONS, f"choices[{i}].finish_reason {short(reason)} is not one of {FINISH_REASONS}")
        require(reason == "stop", f'choices[{i}].finish_reason is {reason!r}, expected "stop"')


@check("chat.usage.arithmetic")
def usage_arithmetic(ctx, ex):
    """usage has integer prompt/completion/total tokens, both positive, and total = prompt + completion."""
    require(isinstance(ex.json, dict) and "usage" in ex.json, "the response has no usage object")
    prompt, completion, _ = usage_numbers(ex.json["usage"])
    require(prompt > 0, "usage.prompt_tokens is 0 for a non-empty prompt")
    require(completion > 0, "usage.completion_tokens is 0 for a non-empty answer")


@check("chat.max_tokens.honoured")
def max_tokens_honoured(ctx, ex):
    """With a small max_tokens (or max_completion_tokens) a long answer is cut: finish_reason "length", at most that many tokens."""
    limit = ctx.params["limit"]
    choice = choices(ex)[0]
    content = first_content(ex)
    require(content.strip(), "the truncated answer is empty")
    words = len(content.split())
    require(words <= limit, f"answer has {words} words, more than the {limit} tokens allowed: {short(content)}")
    usage = ex.json.get("usage")
    if usage is not None:
        _, completion, _ = usage_numbers(usage)
        require(completion <= limit, f"usage.completion_tokens is {completion}, more than the limit {limit}")
    require(choice.get("finish_reason") == "length", f'finish_reason is {short(choice.get("finish_reason"))}, expected "length" for a truncated answer')


@check("chat.stop.honoured")
def stop_honoured(ctx, ex):
    """Generation ends before a stop sequence: it does not appear in the content, finish_reason is "stop"."""
    stops = ctx.params["stop"]
    stops = [stops] if isinstance(stops, str) else stops
    for i, choice in enumerate(choices(ex)):
        content = (choice.get("message") or {}).get("content")
        require(isinstance(content, str) and content.strip(), f"choices[{i}] has no content before the stop sequence")
        for stop in stops:
            require(stop not in content, f"choices[{i}].content contains the stop sequence {stop!r}: {short(content)}")
        require(choice.get("finish_reason") == "stop", f'choices[{i}].finish_reason is {short(choice.get("finish_reason"))}, expected "stop"')


@check("chat.n.choices")
def n_choices(ctx, ex):
    """n=N returns exactly N choices with indexes 0..N-1, each with a message."""
    n = ctx.params["n"]
    items = choices(ex)
    require(len(items) == n, f"asked for n={n}, got {len(items)} choice(s)")
    indexes = sorted(c.get("index") for c in items if isinstance(c.get("index"), int))
    require(indexes == list(range(n)), f"choice indexes are {indexes}, expected {list(range(n))}")
    for i, choice in enumerate(items):
        require(isinstance((choice.get("message") or {}).get("content"), str), f"choices[{i}] has no message content")


@check("chat.logprobs.shape")
def logprobs_shape(ctx, ex):
    """logprobs=true gives one entry per token (token, logprob <= 0, bytes, top_logprobs of the asked length) and the tokens spell the content."""
    k = ctx.params.get("top_logprobs", 0)
    choice = choices(ex)[0]
    content = first_content(ex)
    logprobs = choice.get("logprobs")
    require(isinstance(logprobs, dict), f"choices[0].logprobs must be an object when logprobs=true, got {short(logprobs)}")
    entries = logprobs.get("content")
    require(isinstance(entries, list) and entries, f"logprobs.content must be a non-empty array, got {short(entries)}")
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
    spelled = "".join(e["token"] for e in entries)
    require(spelled.strip() == content.strip(), f"the logprob tokens spell {short(spelled)}, the content is {short(content)}")
