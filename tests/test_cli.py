"""The `conformance` command end to end: the embedded run, exit codes, one-line usage errors, no leaked key."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from conformance.paths import PACKAGE_DIR
from conformance.transport.node_sdk import SDK_VERSION
from conformance.server import ServerThread, create_app

from .conftest import EVERY_TRANSPORT, node_or_skip, run_conformance

KEY = "sk-test-cli-secret-4242"


def _sdk_check_on_http(result: dict) -> bool:
    return result["check"] == "sdk.accepts_response" and result["transport"] == "http"


def test_embedded_run_passes_through_every_transport(tmp_path):
    node_or_skip()
    run = run_conformance(tmp_path, *EVERY_TRANSPORT)
    assert run.code == 0, run.stdout[-3000:] + run.stderr
    report = run.report
    schema = json.loads((PACKAGE_DIR / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert report["target"]["embedded"] is True
    assert report["outcome"] == "pass"
    statuses = {r["status"] for r in report["results"] if not _sdk_check_on_http(r)}
    assert statuses <= {"pass", "unsupported-ok"}, statuses
    assert all(r["status"] == "skip" for r in report["results"] if _sdk_check_on_http(r)), "what the SDK accepts cannot be judged through raw HTTP"
    assert {r["transport"] for r in report["results"]} == {"http", "openai", "openai-node"}
    # the Node SDK ran (this machine has Node.js): pinned version and the Node that ran it are recorded
    node = report["suite"]["openai_node"]
    assert node["available"] is True and node["sdk"] == SDK_VERSION and node["node"].startswith("v"), node
    assert not [r for r in report["results"] if r["transport"] == "openai-node" and r["status"] == "skip" and "unavailable" in r["message"]]
    assert {r["endpoint"] for r in report["results"]} >= {"models", "chat"}
    assert report["totals"]["unsupported-ok"] >= 12 * 2
    assert report["usage"]["requests"] > 0 and report["usage"]["completion_tokens"] > 0
    assert (tmp_path / "reports" / "report.html").exists()
    assert (tmp_path / "reports" / "junit.xml").exists()
    # progress per endpoint: one line as each endpoint's items are all done, its verdicts counted
    for endpoint in {r["endpoint"] for r in report["results"]}:
        verdicts = sum(1 for r in report["results"] if r["endpoint"] == endpoint)
        assert f"\n{endpoint} done: {verdicts} verdicts (" in run.stdout, endpoint


def test_api_key_never_appears_in_any_output(tmp_path):
    # A full run against a server with a known key: terminal, report, HTML and JUnit are all searched.
    with ServerThread(create_app([KEY])) as server:
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--workers", "2", *EVERY_TRANSPORT, env={"OPENAI_API_KEY": KEY})
    assert run.code == 0, run.stdout[-2000:]
    outputs = [run.stdout, run.stderr] + [p.read_text() for p in (tmp_path / "reports").iterdir()]
    for text in outputs:
        assert KEY not in text
    assert run.report["target"]["api_key_source"] == "OPENAI_API_KEY"
    assert "\nchat done: " in run.stdout  # under xdist the controller counts every worker's items


def test_a_failing_target_exits_1_and_keeps_the_key_out_of_failures(tmp_path):
    from tests.faulty import FAULTS, FaultyApp, load_faults

    load_faults()

    with ServerThread(FaultyApp(FAULTS["errors_detail_envelope"], api_keys=[KEY])) as server:
        # pytest's own failure lines, asked for: they come before the summary and its causes, which end the output
        run = run_conformance(
            tmp_path, "--base-url", server.base_url, "--workers", "0", "--markdown", str(tmp_path / "ci" / "summary.md"), "--badge", str(tmp_path / "ci" / "badge.json"),
            "--", "-rf", "--tb=short", env={"OPENAI_API_KEY": KEY, "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")},
        )
    assert run.code == 1
    assert "FAILED" in run.stdout
    assert run.stdout.rindex("FAILED") < run.stdout.index("causes (") < run.stdout.index("c1 FAIL [required]")
    # the CI formats, rendered from the same report: the envelope defect is the first cause
    markdown = (tmp_path / "ci" / "summary.md").read_text()
    assert markdown.startswith("## Conformance: FAIL") and "| c1 fail [required] |" in markdown and "`errors.envelope`" in markdown
    assert (tmp_path / "step-summary.md").read_text() == markdown
    assert json.loads((tmp_path / "ci" / "badge.json").read_text())["color"] == "red"
    for text in [markdown, (tmp_path / "ci" / "badge.json").read_text()]:
        assert KEY not in text
    for text in [run.stdout, run.stderr] + [p.read_text() for p in (tmp_path / "reports").iterdir()]:
        assert KEY not in text


def _one_line_exit_2(run, *needles: str) -> None:
    assert run.code == 2, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("conformance: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert run.stdout == ""


def test_unreachable_host_exits_2_in_seconds(tmp_path):
    started = time.monotonic()
    # as a user starts it (`python -m conformance`), not forked from the tests' preloaded process
    run = run_conformance(tmp_path, "--base-url", "http://127.0.0.1:9/v1", env={"OPENAI_API_KEY": KEY}, fork=False)
    assert time.monotonic() - started < 20
    _one_line_exit_2(run, "cannot reach http://127.0.0.1:9/v1")
    assert KEY not in run.stderr


def test_refused_credentials_exit_2(tmp_path):
    with ServerThread(create_app(["sk-the-right-one"])) as server:
        run = run_conformance(tmp_path, "--base-url", server.base_url, env={"OPENAI_API_KEY": KEY})
    _one_line_exit_2(run, "refused the credentials", "HTTP 401", "OPENAI_API_KEY")
    assert KEY not in run.stderr


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--profile", "no-such-provider"], {}, "unknown profile 'no-such-provider'"),
        (["--base-url", "ftp://example.invalid"], {"OPENAI_API_KEY": KEY}, "must be an http(s) URL"),
        (["--base-url", "http://127.0.0.1:9/v1"], {}, "no API key"),
        (["--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "NOPE_NOT_SET"], {}, "NOPE_NOT_SET"),
        (["--model", "chat"], {}, "CAPABILITY=NAME"),
        (["--model", "painting=x"], {}, "unknown capability 'painting'"),
        (["--endpoint", "completions"], {}, "unknown endpoint 'completions'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path, args, env, needle):
    _one_line_exit_2(run_conformance(tmp_path, *args, env=env), needle)


def test_scw_secret_key_and_api_key_env_are_read(tmp_path):
    with ServerThread(create_app([KEY])) as server:
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--workers", "0", "--", "-k", "models.list", env={"SCW_SECRET_KEY": KEY})
        assert run.code == 0, run.stdout[-2000:] + run.stderr
        assert run.report["target"]["api_key_source"] == "SCW_SECRET_KEY"
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--workers", "0", "--api-key-env", "MY_KEY", "--", "-k", "models.list", env={"MY_KEY": KEY})
        assert run.code == 0
        assert run.report["target"]["api_key_source"] == "MY_KEY"


def test_pytest_args_after_double_dash_select_cases(tmp_path):
    run = run_conformance(tmp_path, "--workers", "0", "--", "-k", "chat.stream and not golden")
    assert run.code == 0, run.stdout[-2000:]
    cases = {r["case"] for r in run.report["results"]}
    assert cases and all(c.startswith("chat.stream") for c in cases)


def test_the_project_a_run_is_started_in_changes_nothing(tmp_path):
    """`conformance run` in a project with its own pytest settings and conftest.py files (as in this
    repository, whose tests/conftest.py removes the AWS variables around every test): none of them
    reaches the run, which loads only the plugins it needs."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option -p no:conformance\n")
    hostile = "import os, pytest\n@pytest.fixture(autouse=True)\ndef hostile():\n    os.environ.pop('AWS_ACCESS_KEY_ID', None)\n    raise RuntimeError('a project fixture ran')\n"
    (tmp_path / "conftest.py").write_text(hostile)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(hostile)
    run = run_conformance(tmp_path, "--workers", "2", "--endpoint", "models,batches", "--property", "off")
    assert run.code == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert {r["endpoint"] for r in run.report["results"]} == {"models", "batches"}
    assert run.report["totals"]["pass"] > 20


def test_endpoint_option_runs_only_those_endpoints_and_says_so(tmp_path):
    run = run_conformance(tmp_path, "--workers", "0", "--endpoint", "models,rerank")
    assert run.code == 0, run.stdout[-2000:]
    assert {r["endpoint"] for r in run.report["results"]} == {"models", "rerank"}
    assert run.report["target"]["endpoints"] == ["models", "rerank"]


def test_model_without_capability_is_skipped_with_the_reason(tmp_path, monkeypatch):
    profile = tmp_path / "bare.yaml"
    profile.write_text(
        "profile_version: 1\nname: bare\ntitle: Bare\nendpoints:\n  models: {features: [core]}\n  chat: {features: [core]}\n"
    )
    run = run_conformance(tmp_path, "--profile", str(profile), "--workers", "0")
    assert run.code == 0, run.stdout[-2000:] + run.stderr
    skipped = [r for r in run.report["results"] if r["status"] == "skip"]
    assert skipped
    assert any("no model configured for capability 'chat'" in r["message"] for r in skipped)
    assert any("does not claim feature 'streaming'" in r["message"] for r in skipped)


def test_batch_cases_skip_without_object_storage(tmp_path):
    with ServerThread(create_app([KEY])) as server:
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--workers", "0", "--", "-k", "batches", env={"OPENAI_API_KEY": KEY})
    assert run.code == 0, run.stdout[-2000:] + run.stderr
    chat = {r["status"] for r in run.report["results"] if r["case"] == "batches.chat"}
    assert chat == {"skip"}
    assert all("AWS_ENDPOINT_URL_S3" in r["message"] and "--s3-bucket" in r["message"] for r in run.report["results"] if r["case"] == "batches.chat")
    assert {r["status"] for r in run.report["results"] if r["case"] == "batches.errors.unknown_id"} == {"pass"}


def test_batches_use_the_configured_bucket_and_never_print_its_secret(tmp_path, local_s3_env):
    env = {k: v for k, v in local_s3_env.items() if k != "CONFORMANCE_S3_BUCKET"}
    with ServerThread(create_app([KEY])) as server:
        run = run_conformance(
            tmp_path, "--base-url", server.base_url, "--workers", "0", "--s3-bucket", local_s3_env["CONFORMANCE_S3_BUCKET"],
            "--", "-k", "batches", env={"OPENAI_API_KEY": KEY, **env},
        )
    assert run.code == 0, run.stdout[-2000:] + run.stderr
    assert {r["status"] for r in run.report["results"] if not _sdk_check_on_http(r)} <= {"pass", "unsupported-ok"}
    assert run.report["usage"]["batch_polls"] > 0 and run.report["usage"]["batch_wait_s"] > 0
    for text in [run.stdout, run.stderr] + [p.read_text() for p in (tmp_path / "reports").iterdir()]:
        assert local_s3_env["AWS_SECRET_ACCESS_KEY"] not in text


def test_a_batch_outlasting_the_wait_is_an_error_not_a_fail(tmp_path, local_s3_env):
    from tests.faulty import Fault, FaultyApp

    def forever_in_progress(req, resp):
        body = resp.json if req.method == "GET" and req.path.startswith("/batches/") else None
        if isinstance(body, dict) and "status" in body:
            resp.set_json({**body, "status": "in_progress"})

    stuck = Fault("stuck", "every batch stays in_progress", frozenset(), on_response=forever_in_progress)
    with ServerThread(FaultyApp(stuck, api_keys=[KEY])) as server:
        run = run_conformance(
            tmp_path, "--base-url", server.base_url, "--workers", "0", "--batch-max-wait", "0.5", "--", "-k", "batches.chat",
            env={"OPENAI_API_KEY": KEY, **local_s3_env},
        )
    assert run.code == 2, run.stdout[-2000:] + run.stderr
    assert not run.failing_checks()
    errors = [r for r in run.report["results"] if r["status"] == "error"]
    assert errors and all("--batch-max-wait" in r["message"] for r in errors)


def test_batch_max_wait_must_be_positive(tmp_path):
    _one_line_exit_2(run_conformance(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "--batch-max-wait", "0", env={"OPENAI_API_KEY": KEY}), "--batch-max-wait")


def test_batches_can_name_input_files_by_presigned_url(tmp_path):
    import yaml

    from conformance.paths import profiles_dir

    profile = yaml.safe_load((profiles_dir() / "scaleway.yaml").read_text())
    profile["endpoints"]["batches"]["properties"]["input_file"] = "presigned-url"
    path = tmp_path / "presigned.yaml"
    path.write_text(yaml.safe_dump(profile))
    run = run_conformance(tmp_path, "--profile", str(path), "--workers", "0", "--", "-k", "batches.chat")
    assert run.code == 0, run.stdout[-2000:] + run.stderr
    sent = [run.report["evidence"][r["evidence_id"]]["request"]["body"]["input_file_id"] for r in run.report["results"] if r["check"] == "batches.create.shape"]
    assert sent and set(sent) == {"[REDACTED]"} and len(sent) == len({r["transport"] for r in run.report["results"]})  # a presigned URL is a credential

