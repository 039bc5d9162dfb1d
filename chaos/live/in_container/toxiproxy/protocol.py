"""Errors of the Toxiproxy API, with the official server's messages and status codes.

The official server answers every failure with ``{"error": "...", "status": N}``;
clients (the Go client, toxiproxy-python, toxiproxy-ruby) match on the status and
show the message, so both are kept exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


class ApiError(Exception):
    """A failure the API reports to its caller as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


@dataclass(frozen=True)
class ErrorKind:
    """One of the official server's error values. Raise fresh errors from it, never a
    shared exception instance (a raised exception carries its traceback)."""

    message: str
    status: int

    def error(self) -> ApiError:
        return ApiError(self.message, self.status)

    def joined(self, detail: str) -> ApiError:
        """This error with a detail appended, as the official ``joinError`` does."""
        return ApiError(f"{self.message}: {detail}", self.status)


BAD_REQUEST_BODY = ErrorKind("bad request body", HTTPStatus.BAD_REQUEST)
MISSING_FIELD = ErrorKind("missing required field", HTTPStatus.BAD_REQUEST)
PROXY_NOT_FOUND = ErrorKind("proxy not found", HTTPStatus.NOT_FOUND)
PROXY_EXISTS = ErrorKind("proxy already exists", HTTPStatus.CONFLICT)
INVALID_STREAM = ErrorKind("stream was invalid, can be either upstream or downstream", HTTPStatus.BAD_REQUEST)
INVALID_TOXIC_TYPE = ErrorKind("invalid toxic type", HTTPStatus.BAD_REQUEST)
TOXIC_EXISTS = ErrorKind("toxic already exists", HTTPStatus.CONFLICT)
TOXIC_NOT_FOUND = ErrorKind("toxic not found", HTTPStatus.NOT_FOUND)


def internal(message: str) -> ApiError:
    """An error without a status of its own: the official server answers 500."""
    return ApiError(message, HTTPStatus.INTERNAL_SERVER_ERROR)
