"""Reading YAML data files: one loader for all of them (libyaml's when installed: the same documents, ~10x faster)."""

from __future__ import annotations

from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(stream: Any) -> Any:
    """``yaml.safe_load`` with :data:`LOADER`."""
    return yaml.load(stream, Loader=LOADER)
