"""Read canary traces back from X-Ray and Langfuse: did each arrive, and how long after it was sent.

Self-contained (standard library; boto3 clients are passed in), because the same module is the
core of ``agentcreator canary check`` and, as ``readback.handler``, the checker Lambda, which a
CloudWatch Logs subscription invokes with the task's ``canary emitted`` lines within seconds.
Each backend is asked again every ``poll_s`` until the trace is there, the backend refuses our
credentials, or ``timeout_s`` after the canary was sent; the delivery latency is when it was
first seen, so it is exact to within one poll.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

LOG_MARKER = "canary emitted"  # what the task logs, and the subscription filter matches
LOG_LINE = re.compile(
    LOG_MARKER + r" trace_id=(?P<trace_id>[0-9a-f]{32}) session_id=(?P<session_id>\S+) "
    r"emitted_at=(?P<emitted_at>\d+(?:\.\d+)?)"
)
METRIC_NAMESPACE = "AgentCreator/Canary"
DELIVERED_METRIC = "Delivered"
LATENCY_METRIC = "DeliveryLatency"
XRAY, LANGFUSE = "xray", "langfuse"
XRAY_READS = ("auto", "batch-get-traces", "transaction-search")
_RETRIEVAL_WAIT_S = 20.0  # one Transaction Search retrieval: StartTraceRetrieval until COMPLETE


@dataclass(frozen=True)
class Sent:
    """A canary as its task logged it."""

    trace_id: str  # 32 hex digits
    emitted_at: float  # epoch seconds
    session_id: str = ""


@dataclass(frozen=True)
class Look:
    """One answer from a backend: ``found``, ``missing``, ``auth`` (final), ``timeout`` or ``error``."""

    state: str
    detail: str = ""


@dataclass(frozen=True)
class Outcome:
    backend: str
    trace_id: str
    delivered: bool
    latency_s: float | None
    reason: str  # delivered / not found / auth / timed out / error, with what the backend said

    def line(self) -> str:
        if self.delivered:
            return f"{self.backend:<9} delivered after {self.latency_s:.1f} s (trace {self.trace_id})"
        return f"{self.backend:<9} not delivered: {self.reason} (trace {self.trace_id})"


def canaries_in(messages: Iterable[str]) -> list[Sent]:
    """The canaries named by ``canary emitted ...`` log lines, in order, each once."""
    seen: dict[str, Sent] = {}
    for message in messages:
        match = LOG_LINE.search(message)
        if match and match["trace_id"] not in seen:
            seen[match["trace_id"]] = Sent(match["trace_id"], float(match["emitted_at"]), match["session_id"])
    return list(seen.values())


def xray_trace_id(trace_id: str) -> str:
    """The OTel trace id as X-Ray writes it: ``1-<first 8 hex>-<other 24>``."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def _aws_error(error: Exception) -> Look:
    response = getattr(error, "response", None) or {}
    code = (response.get("Error") or {}).get("Code", type(error).__name__)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
                "InvalidSignatureException", "ExpiredTokenException") or status in (401, 403):
        return Look("auth", code)
    if "Timeout" in type(error).__name__:
        return Look("timeout", str(error))
    return Look("error", code)


class XRayReader:
    """X-Ray by trace id: ``BatchGetTraces`` where segments are stored in X-Ray, or a Transaction
    Search retrieval (``StartTraceRetrieval`` + ``ListRetrievedTraces``) where spans go to
    CloudWatch Logs, which is where the OTLP endpoint puts them and where BatchGetTraces sees nothing.
    ``auto`` asks ``GetTraceSegmentDestination`` once."""

    name = XRAY

    def __init__(self, client: Any, read: str = "auto", *, sleep: Callable[[float], None] = time.sleep) -> None:
        if read not in XRAY_READS:
            raise ValueError(f"X-Ray read must be one of {', '.join(XRAY_READS)}, not {read!r}")
        self._client, self._read, self._sleep = client, read, sleep

    def _resolve(self) -> str:
        if self._read == "auto":
            destination = self._client.get_trace_segment_destination().get("Destination", "XRay")
            self._read = "transaction-search" if destination == "CloudWatchLogs" else "batch-get-traces"
        return self._read

    def look(self, canary: Sent) -> Look:
        try:
            if self._resolve() == "batch-get-traces":
                traces = self._client.batch_get_traces(TraceIds=[xray_trace_id(canary.trace_id)]).get("Traces", [])
                return Look("found") if any(t.get("Segments") for t in traces) else Look("missing")
            return self._retrieve(canary)
        except Exception as error:  # botocore's errors, without importing botocore here
            return _aws_error(error)

    def _retrieve(self, canary: Sent) -> Look:
        token = self._client.start_trace_retrieval(
            TraceIds=[xray_trace_id(canary.trace_id)],
            StartTime=canary.emitted_at - 300, EndTime=time.time(),
        )["RetrievalToken"]
        waited = 0.0
        while True:
            answer = self._client.list_retrieved_traces(RetrievalToken=token, TraceFormat="OTEL")
            status = answer.get("RetrievalStatus")
            if status == "COMPLETE":
                return Look("found") if answer.get("Traces") else Look("missing")
            if status in ("FAILED", "CANCELLED", "TIMEOUT"):
                return Look("error", f"trace retrieval {status}")
            if waited >= _RETRIEVAL_WAIT_S:
                return Look("timeout", f"trace retrieval still {status} after {waited:.0f} s")
            self._sleep(1.0)
            waited += 1.0


class LangfuseReader:
    """Langfuse's public API, ``GET /api/public/v2/observations?traceId=...``: the read path its
    API documents as real-time (the older ``/api/public/traces`` may lag ~10 minutes). Basic auth
    with the same header the collector sends."""

    name = LANGFUSE

    def __init__(self, host: str, authorization: str, *, request_timeout_s: float = 10.0) -> None:
        self._host = host.rstrip("/")
        self._authorization = authorization
        self._timeout_s = request_timeout_s

    def look(self, canary: Sent) -> Look:
        query = urllib.parse.urlencode({"traceId": canary.trace_id, "fields": "core", "limit": 1})
        request = urllib.request.Request(
            f"{self._host}/api/public/v2/observations?{query}",
            headers={"Authorization": self._authorization, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 (https host from config)
                body = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                return Look("auth", f"HTTP {error.code} from {self._host}")
            if error.code == 404:
                return Look("missing")
            return Look("error", f"HTTP {error.code} from {self._host}")
        except TimeoutError:
            return Look("timeout", f"no answer from {self._host} within {self._timeout_s:g} s")
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                return Look("timeout", f"no answer from {self._host} within {self._timeout_s:g} s")
            return Look("error", f"{self._host}: {error.reason}")
        except ValueError:
            return Look("error", f"{self._host} answered something that is not JSON")
        return Look("found") if body.get("data") else Look("missing")


def check(
    canaries: Iterable[Sent],
    readers: Iterable[Any],
    *,
    timeout_s: float,
    poll_s: float = 5.0,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Ask every reader about every canary until each is found, refused, or ``timeout_s`` old
    (or until ``deadline``, e.g. the Lambda's own); one ``Outcome`` per canary and reader."""
    pending = [(canary, reader, Look("missing")) for canary in canaries for reader in readers]
    outcomes: list[Outcome] = []
    while pending:
        still: list[tuple[Sent, Any, Look]] = []
        for canary, reader, _ in pending:
            look = reader.look(canary)
            now = clock()
            if look.state == "found":
                latency = max(0.0, now - canary.emitted_at)
                outcomes.append(Outcome(reader.name, canary.trace_id, True, latency, "delivered"))
            elif look.state == "auth":
                outcomes.append(Outcome(reader.name, canary.trace_id, False, None, f"auth ({look.detail})"))
            elif now >= canary.emitted_at + timeout_s or (deadline is not None and now >= deadline):
                outcomes.append(Outcome(reader.name, canary.trace_id, False, None, _why(look, now - canary.emitted_at)))
            else:
                still.append((canary, reader, look))
        pending = still
        if pending:
            sleep(poll_s)
    return outcomes


def _why(look: Look, age_s: float) -> str:
    if look.state == "missing":
        return f"not found {age_s:.0f} s after it was sent"
    if look.state == "timeout":
        return f"timed out ({look.detail})"
    return f"error ({look.detail})"


def metric_data(outcomes: Iterable[Outcome], environment: str, at: float) -> list[dict[str, Any]]:
    """PutMetricData entries: ``Delivered`` (1/0) per canary and backend, ``DeliveryLatency`` when it was."""
    data: list[dict[str, Any]] = []
    for outcome in outcomes:
        dimensions = [{"Name": "Environment", "Value": environment}, {"Name": "Backend", "Value": outcome.backend}]
        data.append({"MetricName": DELIVERED_METRIC, "Dimensions": dimensions, "Timestamp": at,
                     "Value": 1.0 if outcome.delivered else 0.0, "Unit": "Count"})
        if outcome.delivered:
            data.append({"MetricName": LATENCY_METRIC, "Dimensions": dimensions, "Timestamp": at,
                         "Value": round(outcome.latency_s or 0.0, 3), "Unit": "Seconds"})
    return data


def publish(cloudwatch: Any, outcomes: Iterable[Outcome], environment: str, *,
            namespace: str = METRIC_NAMESPACE, at: float | None = None) -> int:
    data = metric_data(outcomes, environment, time.time() if at is None else at)
    for start in range(0, len(data), 500):  # PutMetricData takes at most 1000 entries
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])
    return len(data)


def log_messages(event: Mapping[str, Any]) -> list[str]:
    """The log lines in a CloudWatch Logs subscription event (base64 gzip JSON)."""
    payload = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    return [item.get("message", "") for item in payload.get("logEvents", [])]


def readers_from_environment(env: Mapping[str, str], session: Any) -> list[Any]:
    """The readers the Lambda's environment enables (``XRAY_READ``, ``LANGFUSE_HOST`` + ``LANGFUSE_SECRET_ARN``)."""
    readers: list[Any] = []
    read = env.get("XRAY_READ", "auto")
    if read != "off":
        readers.append(XRayReader(session.client("xray"), read))
    if env.get("LANGFUSE_HOST") and env.get("LANGFUSE_SECRET_ARN"):
        try:
            secret = session.client("secretsmanager").get_secret_value(SecretId=env["LANGFUSE_SECRET_ARN"])
        except Exception as error:  # X-Ray is still checked; Langfuse reports why it could not be
            readers.append(_Unreadable(LANGFUSE, f"cannot read the Langfuse secret: {_aws_error(error).detail}"))
        else:
            readers.append(LangfuseReader(env["LANGFUSE_HOST"], secret["SecretString"]))
    return readers


class _Unreadable:
    """A backend whose credentials the checker could not get: every look is an auth failure."""

    def __init__(self, name: str, detail: str) -> None:
        self.name, self._detail = name, detail

    def look(self, canary: Sent) -> Look:
        return Look("auth", self._detail)


def handler(event: Mapping[str, Any], context: Any, *, session: Any = None) -> dict[str, Any]:
    """The checker Lambda: check the canaries in this batch of log lines, publish, log one line each."""
    env = os.environ
    if session is None:
        import boto3  # in the Lambda runtime

        session = boto3.session.Session()
    canaries = canaries_in(log_messages(event))
    if not canaries:
        return {"canaries": 0}
    readers = readers_from_environment(env, session)
    margin_s = 15.0
    deadline = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        deadline = time.time() + context.get_remaining_time_in_millis() / 1000 - margin_s
    outcomes = check(canaries, readers, timeout_s=float(env.get("TIMEOUT_S", "120")),
                     poll_s=float(env.get("POLL_S", "5")), deadline=deadline)
    environment = env["ENVIRONMENT"]
    namespace = env.get("METRIC_NAMESPACE", METRIC_NAMESPACE)
    publish(session.client("cloudwatch"), outcomes, environment, namespace=namespace)
    for outcome in outcomes:
        print(json.dumps({"canary": outcome.trace_id, "backend": outcome.backend, "delivered": outcome.delivered,
                          "latency_s": outcome.latency_s, "reason": outcome.reason, "environment": environment}))
    return {"canaries": len(canaries), "delivered": sum(o.delivered for o in outcomes), "checked": len(outcomes)}
