"""Parses a server-sent-event stream as the WHATWG spec says, keeping framing problems."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SSEEvent:
    """One dispatched event: its ``event`` name (None = default "message") and joined data."""

    data: str
    event: str | None = None
    id: str | None = None
    fields: list[str] = field(default_factory=list)


@dataclass
class SSEParse:
    events: list[SSEEvent]
    #: Lines that are neither a field, a comment nor blank (framing errors).
    bad_lines: list[str]
    #: Data received after the last blank line, never dispatched.
    trailing: str
    #: True if the stream ends with a blank line (the last event was terminated).
    terminated: bool


def parse_sse(raw: bytes | str) -> SSEParse:
    """Split ``raw`` into events; lines may end in CRLF, LF or CR."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # A final "" after the last newline is not a line.
    ended_with_newline = text.endswith(("\n", "\r"))
    if ended_with_newline:
        lines = lines[:-1]
    events: list[SSEEvent] = []
    bad: list[str] = []
    data: list[str] = []
    names: list[str] = []
    event_name: str | None = None
    event_id: str | None = None
    pending = False
    for line in lines:
        if line == "":
            if pending:
                # An empty event type is the default one ("message"), WHATWG HTML §9.2.6.
                events.append(SSEEvent(data="\n".join(data), event=event_name or None, id=event_id, fields=names))
            data, names, event_name, pending = [], [], None, False
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
            pending = True
        elif name == "event":
            event_name = value
            pending = True
        elif name == "id":
            event_id = value
        elif name == "retry":
            pass
        else:
            bad.append(line)
            continue
        names.append(name)
    trailing = "\n".join(data) if pending else ""
    terminated = not pending
    return SSEParse(events=events, bad_lines=bad, trailing=trailing, terminated=terminated)
