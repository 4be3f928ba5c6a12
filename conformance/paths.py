"""Where the suite's data lives: specs/ and fixtures/, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_INSTALLED_DATA = PACKAGE_DIR / "_data"
_CHECKOUT_ROOT = PACKAGE_DIR.parent


def data_dir(name: str) -> Path:
    """Return the directory ``specs`` or ``fixtures``: the wheel's copy, else the checkout's."""
    installed = _INSTALLED_DATA / name
    if installed.is_dir():
        return installed
    return _CHECKOUT_ROOT / name


def specs_dir() -> Path:
    return data_dir("specs")


def fixtures_dir() -> Path:
    return data_dir("fixtures")


def openapi_path() -> Path:
    return specs_dir() / "openapi" / "openapi.yaml"


def profiles_dir() -> Path:
    return specs_dir() / "profiles"


def sample_values_path() -> Path:
    """The one table of sample values for the parameters profiles list (cases/unsupported_values.yaml)."""
    return PACKAGE_DIR / "cases" / "unsupported_values.yaml"
