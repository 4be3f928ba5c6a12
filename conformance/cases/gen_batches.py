"""Generated /v1/batches cases: one per parameter the profile documents as unsupported on batch creation."""

from __future__ import annotations

import copy
from typing import Any

from ..profiles import Profile
from . import Case

#: A valid creation, and a sample value for each parameter a profile may list as unsupported.
BASE = {"input_file_id": "$upload:batches/one.jsonl", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
VALUES: dict[str, Any] = {
    "metadata": {"purpose": "conformance"},
    "output_expires_after": {"anchor": "created_at", "seconds": 3600},
}


def cases(profile: Profile) -> list[Case]:
    out = []
    for parameter in profile.unsupported("batches"):
        if parameter not in VALUES:
            raise KeyError(f"no sample value for unsupported batches parameter {parameter!r}")
        control = {"method": "POST", "path": "/batches", "body": copy.deepcopy(BASE)}
        out.append(
            Case(
                id=f"batches.unsupported.{parameter}",
                endpoint="batches",
                feature="unsupported-params",
                description=f"{parameter!r} is documented as unsupported: batch creation refuses it with a 4xx naming it.",
                request={"method": "POST", "path": "/batches", "body": {**copy.deepcopy(BASE), parameter: VALUES[parameter]}},
                checks=(("unsupported.parameter_refused", {}), ("errors.envelope", {})),
                expect="refusal",
                source="gen_batches.py",
                common_params={"parameter": parameter, "control": control},
            )
        )
    return out
