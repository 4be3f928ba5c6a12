"""Checks accept what the spec allows (found by the benign servers) and still refuse what contradicts it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.checks import Failure
from conformance.checks import batches as checks
from conformance.checks import models
from conformance.openapi import schema_errors
from conformance.transport import ApiRequest, Exchange

BATCH = {"id": "b1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "s3://bucket/in.jsonl", "completion_window": "24h", "status": "completed", "created_at": 1}


def _list(body: dict):
    ex = Exchange(ApiRequest("GET", "/batches", params={"limit": 2}), "http", "", 200, {"content-type": "application/json"}, b"", json=body)
    # as CheckContext.schema_errors: a property the schema does not require may be null
    ctx = SimpleNamespace(params={}, schema_errors=lambda component, value: schema_errors(component, value, optional_nulls=True))
    return checks.list_shape(ctx, ex)


def test_list_without_first_and_last_id_is_a_list():
    # ListBatchesResponse requires only object, data and has_more; the SDK pages on data[-1].id.
    data = [BATCH, {**BATCH, "id": "b2"}]
    _list({"object": "list", "data": data, "has_more": False})
    _list({"object": "list", "data": data, "has_more": False, "first_id": None, "last_id": None})
    _list({"object": "list", "data": data, "has_more": False, "first_id": "b1", "last_id": "b2"})


@pytest.mark.parametrize("ids", [{"first_id": "b2", "last_id": "b1"}, {"first_id": "b2"}, {"last_id": "b1"}])
def test_list_cursor_ids_that_are_sent_must_name_the_ends(ids):
    with pytest.raises(Failure, match="is not the id of the"):
        _list({"object": "list", "data": [BATCH, {**BATCH, "id": "b2"}], "has_more": False, **ids})


@pytest.mark.parametrize(
    "path, model",
    [("/models/gpt-4o", "gpt-4o"), ("/models/mistralai/Mistral-Small-3.2", "mistralai/Mistral-Small-3.2"), ("/models/org%2Fname", "org/name")],
)
def test_the_model_of_a_retrieve_path_keeps_its_slashes(path, model):
    assert models.model_in_path(path) == model


def test_retrieve_shape_with_a_slash_in_the_model_id():
    body = {"id": "scaleway/m-1", "object": "model", "created": 1, "owned_by": "x"}
    ctx = SimpleNamespace(require_schema=lambda component, value, what="body": None)
    ex = Exchange(ApiRequest("GET", "/models/scaleway/m-1"), "http", "", 200, {"content-type": "application/json"}, b"", json=body)
    models.retrieve_shape(ctx, ex)
    with pytest.raises(Failure, match="expected 'scaleway/m-1'"):
        models.retrieve_shape(ctx, Exchange(ex.request, "http", "", 200, {}, b"", json={**body, "id": "m-1"}))
