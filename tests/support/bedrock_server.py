"""A local Amazon Bedrock Runtime serving ``POST /model/{modelId}/converse`` for tests.

It speaks the documented wire format (rest-json: ``output.message.content[].text``,
``stopReason``, ``usage``, ``metrics``; errors as ``x-amzn-ErrorType`` plus ``{"message"}``)
so LiteLLM's real Converse client, with botocore's SigV4 signing, can be pointed at it. It
answers every DSPy ChatAdapter request with the offline LM's plausible answers, can be
scripted per output field, fails or hangs on demand, and records every request.

    with BedrockConverseServer() as bedrock:
        bedrock.fail("throttling", times=2)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.endpoint)
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

# kind: (HTTP status, Bedrock error code, message) — from the Converse API's error list.
ERRORS: dict[str, tuple[int, str, str]] = {
    "throttling": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "validation": (400, "ValidationException", "Malformed input request, please reformat your input and try again."),
    "access_denied": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    "model_timeout": (408, "ModelTimeoutException", "Model has timed out in processing the request."),
    "internal": (500, "InternalServerException", "The server encountered an internal error."),
    "unavailable": (503, "ServiceUnavailableException", "The service is unavailable, please try again later."),
}
_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_OUTPUT_FIELD = re.compile(r"^\d+\. `(\w+)`", re.MULTILINE)


@dataclass
class Exchange:
    """One request as received, and what was answered (``usage`` only for a success)."""

    method: str
    path: str
    model_id: str | None
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    usage: dict[str, int] | None = None
    answer: str | None = None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body or b"{}")

    @property
    def output_fields(self) -> list[str]:
        """The DSPy output fields the request asks for: which signature it is."""
        return output_fields(self.json)


@dataclass
class _Rule:
    action: str  # "error" | "hang" | "answer"
    field: str | None = None
    times: int | None = 1  # None: every matching request
    kind: str = ""
    seconds: float = 0.0
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    retry_after: float | None = None

    def matches(self, fields: list[str]) -> bool:
        return (self.times is None or self.times > 0) and (self.field is None or self.field in fields)


def _system_text(body: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in body.get("system") or [])


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(
        block.get("text", "")
        for message in body.get("messages") or []
        for block in message.get("content") or []
        if isinstance(block, dict)
    )


def output_fields(body: dict[str, Any]) -> list[str]:
    section = _system_text(body).split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
    return _OUTPUT_FIELD.findall(section)


def _default_answer(body: dict[str, Any]) -> str:
    """The offline LM's answer for the same ChatAdapter prompt: plausible for every signature."""
    from agentcreator.pipeline.offline_lm import OfflineEngine, OfflineOptions

    request = SimpleNamespace(system=_system_text(body), messages=[SimpleNamespace(text=_user_text(body))])
    return OfflineEngine(OfflineOptions()).complete(request).text


def _override(answer: str, values: dict[str, Any]) -> str:
    """Replace the ``[[ ## name ## ]]`` sections named in ``values``."""
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        pattern = re.compile(rf"(\[\[ ## {re.escape(name)} ## \]\]\n).*?(?=\n\n\[\[ ## |\Z)", re.DOTALL)
        answer = pattern.sub(lambda match, text=text: match.group(1) + text, answer, count=1)
    return answer


class BedrockConverseServer:
    """The server on 127.0.0.1 at an ephemeral port; a context manager that starts and stops it."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bedrock-converse", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BedrockConverseServer:
        import agentcreator.pipeline.offline_lm  # noqa: F401 - imported here, not inside a client's timeout

        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> BedrockConverseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------
    def fail(self, kind: str, *, times: int | None = 1, field: str | None = None,
             retry_after: float | None = None) -> None:
        """Answer the next ``times`` matching requests (None: all) with a Bedrock error of ``kind``."""
        if kind not in ERRORS:
            raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(ERRORS)}")
        self._add(_Rule("error", field=field, times=times, kind=kind, retry_after=retry_after))

    def hang(self, seconds: float, *, times: int | None = 1, field: str | None = None) -> None:
        """Hold matching requests ``seconds`` without answering, then drop the connection."""
        self._add(_Rule("hang", field=field, times=times, seconds=seconds))

    def answer(self, field: str, values: dict[str, Any], *, times: int | None = None) -> None:
        """Requests asking for output ``field`` get ``values`` for the named output fields."""
        self._add(_Rule("answer", field=field, times=times, values=values))

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take(self, fields: list[str]) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(fields):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    # -- reading back ----------------------------------------------------------------------
    @property
    def successes(self) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if exchange.status == 200]

    @property
    def reported_usage(self) -> list[tuple[int, int, int]]:
        """(input, output, total) tokens of every successful answer, in order."""
        return [(u["inputTokens"], u["outputTokens"], u["totalTokens"])
                for u in (exchange.usage for exchange in self.successes) if u]

    # -- serving ---------------------------------------------------------------------------
    def _respond(self, exchange: Exchange) -> tuple[int, dict[str, str], bytes] | None:
        """Status, headers and body for one request; None drops the connection (a hang)."""
        request_id = str(uuid.uuid4())
        match = _PATH.match(exchange.path.split("?", 1)[0])
        if exchange.method != "POST" or match is None:
            return self._error(404, "UnknownOperationException", "Unknown operation", request_id)
        try:
            body = exchange.json
        except ValueError:
            return self._error(400, "SerializationException", "Request body is not JSON", request_id)
        if not exchange.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return self._error(403, "MissingAuthenticationTokenException", "Missing Authentication Token",
                               request_id)
        fields = output_fields(body)
        rule = self._take(fields)
        if rule is not None and rule.action == "hang":
            self._stopping.wait(rule.seconds)
            return None
        if rule is not None and rule.action == "error":
            status, code, message = ERRORS[rule.kind]
            extra = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
            return self._error(status, code, message, request_id, extra)
        started = time.perf_counter()
        answer = _default_answer(body)
        if rule is not None and rule.action == "answer":
            answer = _override(answer, rule.values)
        input_tokens = max(1, len(_system_text(body) + _user_text(body)) // 4) + 11
        output_tokens = max(1, len(answer) // 4) + 5
        usage = {"inputTokens": input_tokens, "outputTokens": output_tokens,
                 "totalTokens": input_tokens + output_tokens}
        exchange.usage, exchange.answer = usage, answer
        payload = {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": usage,
            "metrics": {"latencyMs": max(1, round((time.perf_counter() - started) * 1000))},
        }
        return 200, {"x-amzn-RequestId": request_id}, json.dumps(payload).encode()

    @staticmethod
    def _error(status: int, code: str, message: str, request_id: str,
               extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/",
                   **(extra or {})}
        return status, headers, json.dumps({"message": message}).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                exchange = Exchange(
                    method=self.command,
                    path=self.path,
                    model_id=None,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    received_at=time.time(),
                )
                match = _PATH.match(self.path.split("?", 1)[0])
                exchange.model_id = unquote(match.group("model")) if match else None
                with server._lock:
                    server.exchanges.append(exchange)
                reply = server._respond(exchange)
                if reply is None:
                    self.close_connection = True
                    return
                status, headers, body = reply
                exchange.status = status
                exchange.error_code = headers.get("x-amzn-ErrorType", "").split(":", 1)[0] or None
                exchange.request_id = headers.get("x-amzn-RequestId")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet: tests assert on ``exchanges``, not on a log."""

        return _Handler


# -- client side helpers -------------------------------------------------------------------
FAKE_ACCESS_KEY_ID = "AKIDTESTINGFAKEKEY00"  # clearly fake: never a real credential
FAKE_SECRET_ACCESS_KEY = "testing-fake-secret-access-key-not-real"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def fake_aws_environment(region: str = "eu-west-1") -> dict[str, str | None]:
    """Variables for a test: fake static credentials, no profile or config file, one region.

    ``None`` means "unset"; apply with ``monkeypatch.setenv``/``delenv``.
    """
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": "/nonexistent/agentcreator-test-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/agentcreator-test-aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": None,
        "AWS_REGION_NAME": None,
        "AWS_BEDROCK_RUNTIME_ENDPOINT": None,
        "AWS_ENDPOINT_URL": None,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        "AWS_BEARER_TOKEN_BEDROCK": None,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


def parse_authorization(exchange: Exchange) -> dict[str, str] | None:
    match = _AUTHORIZATION.match(exchange.headers.get("authorization", ""))
    return match.groupdict() if match else None


def sigv4_signature_valid(exchange: Exchange, endpoint: str, secret_access_key: str = FAKE_SECRET_ACCESS_KEY) -> bool:
    """Recompute the request's SigV4 signature with botocore from what the server received."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = parse_authorization(exchange)
    if parts is None:
        return False
    signed = parts["signed"].split(";")
    request = AWSRequest(method=exchange.method, url=endpoint + exchange.path, data=exchange.body,
                         headers={name: exchange.headers[name] for name in signed})
    request.context["timestamp"] = exchange.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(parts["key"], secret_access_key), parts["service"], parts["region"])
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request) == parts["signature"]
