"""The survey of each real peer, replayed from its recording, drafts that peer's shipped profile.

tests/recordings/SERVER.jsonl is made by `MODE=survey scripts/peers/check.sh SERVER` (a recording
proxy between the survey and the real server). Replayed here offline, the survey must draft a profile
that agrees with specs/profiles/SERVER.yaml on every point the survey can observe: the endpoints, the
observable features, the refused and the ignored parameters, the refusal statuses and error code
types. Where the two may honestly differ, KNOWN says why; a difference not listed there, or a listed
one that is gone, fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.profiles import Profile, load_profile
from conformance.server import ServerThread
from conformance.survey import BASE_FEATURES, FEATURE_OF, HONOURED, NO_EFFECT, survey_table
from tests.conftest import UNPACED, _REAL_TARGET_VARS
from tests.recording import ReplayApp

RECORDINGS = sorted((Path(__file__).parent / "recordings").glob("*.jsonl"))
KEY = "sk-replay-key"


def observable(endpoint: str) -> set[str]:
    """The features the survey can see on ``endpoint``: auth and errors (the probes), those the base
    answer shows, and those of a parameter with an effect predicate — not golden, vision, parallel
    tools, ... (no request of the survey shows them)."""
    effects = survey_table().get(endpoint, {}).get("effects", {})
    return {"auth", "errors", *BASE_FEATURES.get(endpoint, {}), *(f for p, f in FEATURE_OF.get(endpoint, {}).items() if p in effects)}


_LITELLM_NO_DB = "without a database any key but the master key gets 400 'No connected db.' (BerriAI/litellm#12273; in docs/examples/litellm/expectations.yaml)"
_LITELLM_BACKEND = "a feature of the backend behind this proxy (the mock model, infinity); litellm.yaml claims only what the proxy itself documents"
_LLAMA_401 = "the only refusals the survey meets there are the 401s, FastAPI's {\"detail\"} bodies (in expectations); the profile claims errors for RouteErrorHandler's own OpenAI-style errors"
_TF_BRACKETS = "the survey sends list fields as the openai client does (include[] / timestamp_granularities[]), which are refused as unexpected fields; the source ignores the plain names (in expectations)"

#: Server -> difference -> why the survey and the shipped profile may disagree on it (each a known
#: deviation of the server or a claim the survey cannot see with these models).
KNOWN: dict[str, dict[str, str]] = {
    "infinity": {},
    "litellm": {
        **{f"{e}.wrong_key: 400 not in the shipped [401]": _LITELLM_NO_DB for e in ("models", "chat", "responses", "embeddings", "rerank")},
        "status_codes.wrong_key: drafted [400] not in the shipped [401]": _LITELLM_NO_DB,
        "models.errors: shipped only": "GET /models/{unknown} answers FastAPI's {\"detail\"} 404 (in expectations); the proxy's own errors are the OpenAI envelope",
        "chat.n: surveyed only": _LITELLM_BACKEND,
        "chat.stream-usage: surveyed only": _LITELLM_BACKEND,
        "chat.unsupported.verbosity: surveyed only": _LITELLM_BACKEND + ": UnsupportedParamsError for the openai provider, droppable with drop_params",
        "embeddings.embedding-base64: surveyed only": _LITELLM_BACKEND,
        "embeddings.normalized-vectors: surveyed only": _LITELLM_BACKEND,
        "embeddings.unsupported.dimensions: surveyed only": _LITELLM_BACKEND + ": UnsupportedParamsError for an openai/ embedding model, droppable with drop_params",
    },
    "llama-cpp-python": {
        "chat.errors: shipped only": _LLAMA_401,
        "embeddings.errors: shipped only": _LLAMA_401,
        "chat.tools: shipped only": "the survey's chat model (tiny-llama, chatml) ignores tools; tool calls need the chatml-function-calling model, whose tool_choice required fails with 500 (in expectations)",
    },
    "transformers-serve": {
        "chat.tools: shipped only": "tool_choice is ignored (UNUSED_CHAT_COMPLETION_FIELDS), so no tool call is forced and the random-weight model answers text",
        "responses.streaming: shipped only": "Responses are streamed even without `stream` (body.get('stream', True); in expectations), so stream: true shows no effect of its own",
        "transcriptions.ignored.include: rejected": _TF_BRACKETS,
        "transcriptions.ignored.timestamp_granularities: rejected": _TF_BRACKETS,
        "transcriptions.unsupported.include: surveyed only": _TF_BRACKETS,
        "transcriptions.unsupported.timestamp_granularities: surveyed only": _TF_BRACKETS,
    },
}


def differences(survey: dict, draft: Profile, shipped: Profile) -> list[str]:
    """The observable points on which the draft and the shipped profile disagree."""
    out = []
    for endpoint, result in survey["endpoints"].items():
        if "probes" not in result and "base" not in result:
            continue  # not surveyed (no model, no storage): nothing observed
        if draft.claims_endpoint(endpoint) != shipped.claims_endpoint(endpoint):
            out.append(f"{endpoint}: claimed by the {'draft' if draft.claims_endpoint(endpoint) else 'shipped profile'} only")
            continue
        if not shipped.claims_endpoint(endpoint):
            continue
        for feature in sorted(observable(endpoint)):
            if draft.claims(endpoint, feature) != shipped.claims(endpoint, feature):
                out.append(f"{endpoint}.{feature}: {'surveyed' if draft.claims(endpoint, feature) else 'shipped'} only")
        findings = {f["parameter"]: f for f in result.get("parameters", [])}
        shipped_refused = set(shipped.unsupported(endpoint)) & set(findings)
        for name in sorted(shipped_refused ^ set(draft.unsupported(endpoint))):
            out.append(f"{endpoint}.unsupported.{name}: {'shipped' if name in shipped_refused else 'surveyed'} only")
        for name in shipped.ignored(endpoint):
            if name in findings and findings[name]["classification"] not in (HONOURED, NO_EFFECT):
                out.append(f"{endpoint}.ignored.{name}: {findings[name]['classification']}")
        for situation, probe in result.get("probes", {}).items():
            status = probe.get("status")
            judged = shipped.claims(endpoint, "auth" if situation != "model_not_found" else "errors")
            if judged and status and 400 <= status < 500 and status not in shipped.accepted_statuses(situation):
                out.append(f"{endpoint}.{situation}: {status} not in the shipped {list(shipped.accepted_statuses(situation))}")
        if shipped.claims(endpoint, "errors"):
            kinds = {r["code_type"] for r in [*result.get("probes", {}).values(), *findings.values()] if r.get("code_type")}
            for kind in sorted(kinds - set(shipped.code_types)):
                out.append(f"{endpoint}: error code type {kind} not in the shipped {list(shipped.code_types)}")
    # the statuses the draft documents must hold under the shipped profile (code types: above, per endpoint)
    for situation, statuses in draft.status_codes.items():
        extra = sorted(set(statuses) - set(shipped.accepted_statuses(situation)))
        if extra:
            out.append(f"status_codes.{situation}: drafted {extra} not in the shipped {list(shipped.accepted_statuses(situation))}")
    return out


def replayed(recording: Path, tmp_path: Path) -> tuple[dict, Profile, ReplayApp, Path]:
    """Survey the replayed peer: (survey.json, the draft profile, the replay app, the draft's path)."""
    app = ReplayApp(recording, KEY)
    env = {k: v for k, v in os.environ.items() if k not in _REAL_TARGET_VARS}
    env["OPENAI_API_KEY"] = KEY
    draft_path = tmp_path / "draft.yaml"
    with ServerThread(app) as replay:
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "survey", "--base-url", replay.base_url, *app.meta["args"], "--name", app.meta["server"],
             "--write-profile", str(draft_path), "--report-dir", str(tmp_path), "--workers", "1", *UNPACED],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not app.misses, f"{len(app.misses)} requests not in the recording (re-record it): {app.misses[:3]}"
    return json.loads((tmp_path / "survey.json").read_text()), load_profile(str(draft_path)), app, draft_path


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: p.stem)
def test_the_replayed_survey_drafts_the_shipped_profile(recording, tmp_path):
    survey, draft, app, draft_path = replayed(recording, tmp_path)
    server = app.meta["server"]
    found = differences(survey, draft, load_profile(server))
    known = KNOWN.get(server, {})
    assert sorted(found) == sorted(known), (
        f"not explained: {sorted(set(found) - set(known))}; explained but gone: {sorted(set(known) - set(found))}\n"
        + yaml.safe_dump(yaml.safe_load(draft_path.read_text()))
    )


def test_a_shipped_claim_the_recording_contradicts_is_a_difference(tmp_path):
    survey, draft, _, _ = replayed(Path(__file__).parent / "recordings" / "infinity.jsonl", tmp_path)
    shipped = load_profile("infinity")
    embeddings = dict(shipped.endpoints["embeddings"])
    embeddings["features"] = [*embeddings["features"], "errors"]  # its refusals are FastAPI's {"detail"}
    embeddings["unsupported_parameters"] = ["user"]  # accepted by the server
    wrong = dataclasses.replace(shipped, endpoints={**shipped.endpoints, "embeddings": embeddings}, status_codes={"missing_key": (403,)})
    found = differences(survey, draft, wrong)
    assert "embeddings.errors: shipped only" in found
    assert "embeddings.unsupported.user: shipped only" in found
    assert "embeddings.missing_key: 401 not in the shipped [403]" in found
    assert differences(survey, draft, shipped) == []


def test_every_peer_with_a_script_has_a_recording():
    text = (Path(__file__).parent.parent / "scripts" / "peers" / "check.sh").read_text()
    import re

    servers = set(re.findall(r"^  ([a-z-]+)\)$", text, re.M))
    assert {p.stem for p in RECORDINGS} == servers
