"""Reading a JSON request body at the door: bounded in size, depth and number length, valid Unicode throughout.

Guarantees (each failure is a `BodyError` carrying the status and a message naming the problem, never a traceback):
- At most `limit` bytes are read, whether or not the request has a Content-Length: a chunked body that goes past
  the limit is 413, never cut at the limit and parsed. A body still arriving at the server's read deadline is 408.
- The body is UTF-8 JSON; `NaN`/`Infinity` literals, numbers written with more than `MAX_NUMBER_CHARS` characters
  (Python would refuse to convert a 500,000-digit integer, or turn `1e999` into infinity) and nesting deeper than
  `MAX_DEPTH` are 400, as is any string (key or value) holding a lone UTF-16 surrogate (`"\\ud800"`), which no
  UTF-8 writer downstream (Redis, Salesforce, the platform) can encode.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from gateway.web.server import SlowClient

MAX_DEPTH = 32  # the contract's deepest value (a compound field inside a record) sits at depth 5
MAX_NUMBER_CHARS = 40  # Salesforce numbers hold at most 18 digits; 40 leaves room for sign, point and exponent
_CHUNK = 64 * 1024


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most `limit` bytes (`BodyError` 413 beyond)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := request.stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except RequestEntityTooLarge:  # werkzeug's own guard on a stream without Content-Length
        raise _too_large(limit) from None
    except ClientDisconnected as exc:
        if isinstance(exc.__context__, SlowClient):
            raise BodyError(408, "request-timeout", "the body did not arrive within the read deadline") from None
        raise BodyError(400, "invalid-request", "the body ended before its announced length") from None
    return b"".join(chunks)


def _too_large(limit: int) -> BodyError:
    return BodyError(413, "payload-too-large", f"the body is larger than {limit} bytes; send smaller batches")


class _Refused(ValueError):
    pass


def _number(text: str, convert: type[int] | type[float]) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number is written with {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


# One decoder for every request, as `json.loads` keeps one: it holds no state between calls.
_DECODER = json.JSONDecoder(
    parse_int=lambda t: _number(t, int), parse_float=lambda t: _number(t, float), parse_constant=_constant
)


def parse_json(body: bytes) -> Any:
    """The parsed body (`BodyError` 400 naming the problem)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, "invalid-json", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = _DECODER.decode(text)
    except _Refused as exc:
        raise BodyError(400, "invalid-json", f"the body is not acceptable JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, "invalid-json", f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise BodyError(400, "invalid-json", f"the body nests arrays/objects deeper than {MAX_DEPTH}") from None
    # Raw UTF-8 cannot hold a surrogate (strict decoding refused it above): only a \u escape can make one.
    problem = _structure_problem(value, strings="\\u" in text)
    if problem is not None:
        raise BodyError(400, "invalid-json", f"the body is not acceptable JSON: {problem}")
    return value


def _structure_problem(value: Any, *, strings: bool) -> str | None:
    """Nesting deeper than `MAX_DEPTH`, or (with `strings`) a string that is not valid Unicode. A quick pass first
    (the common, clean case); only when it finds something, a second one names the path of the first problem."""
    if strings:
        clean = _walk(value, strings=True, paths=False) is None
    else:
        clean = type(value) not in (dict, list) or _within_depth(value, 0)
    return None if clean else _walk(value, strings=strings, paths=True)


def _within_depth(node: Any, depth: int) -> bool:
    """Whether no container under `node` (itself at `depth`) nests deeper than `MAX_DEPTH` (recursion stops there)."""
    if depth >= MAX_DEPTH:
        return False
    for item in node.values() if type(node) is dict else node:
        kind = type(item)
        if (kind is dict or kind is list) and not _within_depth(item, depth + 1):
            return False
    return True


def _walk(value: Any, *, strings: bool, paths: bool) -> str | None:
    stack: list[tuple[Any, int, str]] = [(value, 0, "$")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth >= MAX_DEPTH:
                return f"{path} nests deeper than {MAX_DEPTH} levels"
            for key, item in node.items():
                if strings and not _valid_text(key):
                    return f"a key in {path} holds a lone UTF-16 surrogate (not valid Unicode)"
                if strings or isinstance(item, dict | list):
                    stack.append((item, depth + 1, f"{path}.{key[:40]}" if paths else path))
        elif isinstance(node, list):
            if depth >= MAX_DEPTH:
                return f"{path} nests deeper than {MAX_DEPTH} levels"
            for i, item in enumerate(node):
                if strings or isinstance(item, dict | list):
                    stack.append((item, depth + 1, f"{path}[{i}]" if paths else path))
        elif isinstance(node, str) and not _valid_text(node):
            return f"{path} holds a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _valid_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
