"""Reading a multipart/form-data body (RFC 7578) byte for byte: text fields and uploaded files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.requests import Request

from .errors import APIError

#: Largest body read (a 25 MiB file plus the form fields and framing).
MAX_BODY_BYTES = 26 * 1024 * 1024
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r';\s*([a-zA-Z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


@dataclass(frozen=True)
class Upload:
    """One file part: its file name, declared content type and bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    """The parts of a form by name, in the order sent (a repeated name keeps every value)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.fields) | set(self.files)


def invalid_form(detail: str) -> APIError:
    return APIError(400, f"Invalid multipart/form-data body: {detail}", code="invalid_request_body")


async def read_form(request: Request) -> Form:
    """The request's multipart/form-data body, or a 400 when it is not one."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise APIError(
            400,
            f"This endpoint expects a multipart/form-data body, got Content-Type '{content_type or 'none'}'.",
            code="invalid_request_body",
        )
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise APIError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.", code="request_too_large")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise invalid_form("the Content-Type has no boundary.")
    return parse(body, (match.group(1) or match.group(2)).encode("latin-1"))


def parse(body: bytes, boundary: bytes) -> Form:
    """The parts of ``body``: each follows a CRLF ``--boundary`` line; ``--boundary--`` closes the form."""
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise invalid_form("the closing boundary is missing.")
    form = Form()
    for chunk in chunks[1:-1]:
        _, _, part = chunk.partition(b"\r\n")  # the rest of the boundary line (transport padding)
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            raise invalid_form("a part has no header block.")
        _add_part(form, _headers(head), content)
    return form


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _add_part(form: Form, headers: dict[str, str], content: bytes) -> None:
    disposition = headers.get("content-disposition", "")
    if not disposition.lower().startswith("form-data"):
        raise invalid_form("a part is not 'Content-Disposition: form-data'.")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _DISPOSITION_PARAM.finditer(disposition)}
    name = params.get("name")
    if not name:
        raise invalid_form("a part has no name.")
    if "filename" in params:
        upload = Upload(params["filename"], headers.get("content-type", "application/octet-stream"), content)
        form.files.setdefault(name, []).append(upload)
    else:
        form.fields.setdefault(name, []).append(content.decode("utf-8", "replace"))
