"""One probe before a run: is the target reachable, and does it accept our credentials?"""

from __future__ import annotations

import httpx

from .settings import Settings, UsageError

#: Requests the probe sends (counted against --budget).
REQUESTS = 1


def preflight(settings: Settings) -> None:
    """GET /models once; raise :class:`UsageError` when the run could not judge anything."""
    url = settings.base_url + "/models"
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=min(settings.timeout, 10.0), trust_env=False)
    except httpx.TimeoutException:
        raise UsageError(f"{settings.display_url} did not answer within 10 s; check --base-url and your network") from None
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise UsageError(f"cannot reach {settings.display_url} ({reason}); check --base-url (is the server running?)") from None
    if response.status_code in (401, 403):
        raise UsageError(
            f"{settings.display_url} refused the credentials (HTTP {response.status_code}); "
            f"check the API key in {settings.api_key_source}"
        )
