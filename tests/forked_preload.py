"""What the forkserver of tests/forked.py imports once: the command, the plugin, the checks, the
clients, the property runs' generators and the report's renderer (everything a run imports)."""

import xml.etree.ElementTree  # noqa: F401 - junitxml

import _pytest.junitxml  # noqa: F401
import _pytest.skipping  # noqa: F401
import _pytest.unittest  # noqa: F401
import execnet  # noqa: F401
import hypothesis  # noqa: F401
import jinja2  # noqa: F401
import openai  # noqa: F401
import PIL.Image  # noqa: F401
import pytest  # noqa: F401
import requests  # noqa: F401
import schemathesis  # noqa: F401
import schemathesis.pytest  # noqa: F401
import schemathesis.specs.openapi.schemas  # noqa: F401
import xdist  # noqa: F401
import xdist.looponfail  # noqa: F401

import conformance.cli  # noqa: F401
import conformance.fixtures_server  # noqa: F401
import conformance.plugin  # noqa: F401
import conformance.preflight  # noqa: F401
import conformance.property_run  # noqa: F401
import conformance.report.html  # noqa: F401
import conformance.runner  # noqa: F401
import conformance.suite.test_conformance  # noqa: F401
import conformance.suite.test_property  # noqa: F401
import conformance.transport  # noqa: F401
import gc

from conformance.cases import static_cases
from conformance.checks import load_all
from conformance.openapi import _fast_registry, load_document, registry
from conformance.report import _fast_report_validator
from conformance.report.html import _ENV

PIL.Image.init()  # the image plugins
load_all()
load_document()
static_cases()  # the case files, read and validated
for variant in ((True, True), (True, False)):
    registry(*variant), _fast_registry(*variant)
_fast_report_validator()
_ENV.get_template("report.html.j2")  # compiled once

def _hear_the_fixtures() -> None:
    """The reference server hears each clip once per process (~0.7 s each): hear the fixtures' clips
    here, so that every embedded run forked from this process finds them heard."""
    import base64

    from conformance.paths import fixtures_dir
    from conformance.server import audio, speech

    for path in sorted((fixtures_dir() / "audio").iterdir()):
        if path.suffix in (".wav", ".mp3", ".flac"):
            data = path.read_bytes()
            speech.transcribe(data)
            if path.suffix in (".wav", ".mp3"):
                audio.load(audio.AudioInput(data=base64.b64encode(data).decode(), format=path.suffix[1:], param="warm-up"))


_hear_the_fixtures()
# what is loaded now lives as long as every child: the children's collections need not scan it
gc.freeze()
