"""What the load generator sends to an entrypoint of a user's stack: its request kinds and their weights.

    live:
      entrypoints:
        web:
          url: http://127.0.0.1:8080
          requests:
            - {name: home, path: /, weight: 6}
            - {name: search, path: /search, query: {q: shoes}, weight: 3}
            - name: order
              method: POST
              path: /api/orders
              headers: {Content-Type: application/json}
              body: '{"item": 42}'
              success: [200, 201]
              weight: 1

Each entry request is one of the kinds, drawn with probability weight / total weight,
as a Locust task mix is. Without ``requests`` an entrypoint gets one GET of its URL.
Whether an answer counts as a success is the kind's ``success`` list (default: any 2xx);
other 4xx answers are the client's own errors (counted apart, never blamed on the
system), 429 and 5xx the system's failures, as :mod:`chaos.live.load.answers` decides.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from chaos.model.parsing import NAME as NAME_RULE
from chaos.model.parsing import Model, TextRule, fld

# RFC 9110's token: what a header name may be.
HEADER_NAME = TextRule(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}", "a header name is 1 to 100 token characters "
                       "(letters, digits and !#$%&'*+-.^_`|~)")
# Set by the load generator itself for every request: a mapping may not override them.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_PATH = re.compile(r"(/[!$&'()*+,;=:@%A-Za-z0-9._~/-]*)?")
MAX_BODY = 65536


class HttpMethod(enum.Enum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


@dataclass(frozen=True)
class Header(Model):
    """``Content-Type: application/json``: one header sent with the request."""

    VALUE_KEY = "value"
    name: str = fld(doc="the header's name (taken from the key)", text=HEADER_NAME)
    value: str = fld(doc="its value")

    def validate(self) -> None:
        if self.name.lower() in RESERVED_HEADERS:
            raise self.error("name", f"'{self.name}' is set by the load generator itself",
                             hint=f"leave out {', '.join(sorted(RESERVED_HEADERS))}")


@dataclass(frozen=True)
class QueryParam(Model):
    """``q: shoes``: one query parameter, percent-encoded by the load generator."""

    VALUE_KEY = "value"
    name: str = fld(doc="the parameter's name (taken from the key)")
    value: str = fld(doc="its value")


@dataclass(frozen=True, kw_only=True)
class RequestKind(Model):
    """One kind of entry request: what is sent, how often, and which answers count as success."""

    name: str | None = fld(None, text=NAME_RULE, doc="how the results name it (default: method and path)")
    method: HttpMethod = fld(HttpMethod.GET, doc="the HTTP method")
    path: str = fld("", doc="appended to the entrypoint's URL (default: the URL itself)")
    query: tuple[QueryParam, ...] = fld((), keyed="name", doc="query parameters, percent-encoded")
    headers: tuple[Header, ...] = fld((), keyed="name", doc="headers sent with it")
    body: str | None = fld(None, doc="the request body, sent as is (UTF-8)")
    success: tuple[int, ...] = fld((), ge=100, le=599, max_items=100,
                                   doc="status codes that count as a success (default: any 2xx)")
    weight: float = fld(1.0, gt=0, le=1e6, doc="its share of the entrypoint's requests, relative to the others'")

    @property
    def label(self) -> str:
        return self.name or f"{self.method.value} {self.path or '/'}"

    def target(self) -> str:
        """The path and query, encoded, to append to the entrypoint URL's own path."""
        query = urlencode([(q.name, q.value) for q in self.query], quote_via=quote)
        return self.path + (f"?{query}" if query else "")

    def validate(self) -> None:
        if not _PATH.fullmatch(self.path):
            raise self.error("path", f"'{self.path}' is not a path", hint="start it with '/', percent-encode "
                             "spaces and other characters, and give query parameters under query:")
        if self.body is not None and len(self.body.encode()) > MAX_BODY:
            raise self.error("body", f"a body of {len(self.body.encode()):,} bytes is too long: at most {MAX_BODY:,}")
        if self.body is not None and self.method is HttpMethod.HEAD:
            raise self.error("body", "a HEAD request has no body")
        seen: set[str] = set()
        for h in self.headers:
            if h.name.lower() in seen:
                raise h.error("name", f"header '{h.name}' is given twice (header names ignore case)")
            seen.add(h.name.lower())


def check_kinds(owner: Model, field_name: str, kinds: tuple[RequestKind, ...]) -> None:
    """The results name each kind: no two kinds of one entrypoint may share a name."""
    seen: set[str] = set()
    for kind in kinds:
        if kind.label in seen:
            raise kind.error("name", f"two requests are named '{kind.label}'",
                             hint="give each one its own name: (name: search, ...)")
        seen.add(kind.label)
