"""What the clients and the recording upstream hand back: a response, and a request as
the upstream application received it, both with header lookup by name."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field


class HeaderLookup:
    """Header access by name (any case) for anything with `headers` as (name, value) pairs."""

    headers: list[tuple[str, str]]

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None


@dataclass
class Recorded(HeaderLookup):
    """One request as the upstream application received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def from_json(cls, d: dict) -> "Recorded":
        raw = base64.b64decode(d["body"]) if d.get("body_encoding") == "base64" else d["body"].encode("utf-8")
        return cls(d["method"], d["path"], [(k, v) for k, v in d["headers"]], raw)


@dataclass
class Response(HeaderLookup):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)


    def json(self):
        return json.loads(self.body)
