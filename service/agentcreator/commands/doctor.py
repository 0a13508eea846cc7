"""``agentcreator doctor``: the troubleshooting checklist for "my traces do not show up", automated.

Each check is a small function of a shared context returning a ``Check``: settings parse, an
endpoint is configured (none is a failure: spans would go nowhere), Langfuse keys go where
Langfuse is, DNS, TCP, a real empty OTLP export classified by its answer, DSPy instrumentation
and the session-baggage processor, the local collector's health check, and an empty export of
metrics to the metrics endpoint (docs/metrics.md). The export is made
by the very exporter the service builds (``telemetry.setup.build_otlp_exporter``), so it goes
with the endpoint, headers, TLS files, compression and protocol the SDK resolves from the
standard variables. Exit 0 when nothing failed, 1 otherwise. Header values are never shown,
only their names.

    $ OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 agentcreator doctor --json
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentcreator.config import shown_url

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Mapping

    from agentcreator.config import Settings

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_HEALTH_URL = "http://127.0.0.1:13133/"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
_BASIC_ADVICE = ("Langfuse takes Basic auth, not Bearer: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20<base64 of "
                 "public_key:secret_key> (the space URL-encoded as %20), or set LANGFUSE_PUBLIC_KEY and "
                 "LANGFUSE_SECRET_KEY and let AgentCreator build it")


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ok, warn (works, but look), fail or skip (not
    applicable here)."""

    name: str
    status: str
    detail: str
    advice: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class _Context:
    """What the checks share: the environment, the parsed settings, and earlier verdicts."""

    env: Mapping[str, str]
    timeout_s: float
    health_url: str
    settings: Settings | None = None
    results: dict[str, Check] = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        return self.settings.otlp_traces_endpoint if self.settings else None

    @property
    def host(self) -> str:
        return urlsplit(self.url or "").hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url or "")
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def authorization(self) -> str:
        return (self.settings.otlp_headers.get("authorization", "") if self.settings else "").strip()


def _is_local(host: str) -> bool:
    return host in _LOCAL_HOSTS or host.startswith("127.")


def _looks_like_langfuse(host: str) -> bool:
    return "langfuse" in host.lower()


def _header_names(ctx: _Context) -> str:
    names = ctx.settings.otlp_header_names if ctx.settings else []
    return ", ".join(names) if names else "none"


# The checks, in order. Each takes the context and returns one Check.


def check_settings(ctx: _Context) -> Check:
    from agentcreator.config import ConfigError, load_settings

    try:
        ctx.settings = load_settings(ctx.env)
    except ConfigError as error:
        return Check("settings", "fail", str(error), "fix that variable; docs/configuration.md lists what each one "
                     "accepts")
    s = ctx.settings
    return Check("settings", "ok", f"environment {s.environment}, protocol {s.otlp_protocol}, "
                 f"compression {s.otlp_compression}, export timeout {s.otlp_timeout_s:g} s, "
                 f"headers: {_header_names(ctx)}")


def check_endpoint(ctx: _Context) -> Check:
    if ctx.settings is None:
        return Check("endpoint", "skip", "settings did not parse")
    if ctx.settings.sdk_disabled:
        ctx.settings = replace(ctx.settings, otlp_traces_endpoint=None)
        return Check("endpoint", "fail", "OTEL_SDK_DISABLED=true: no span is made or sent",
                     "unset OTEL_SDK_DISABLED (only the value true turns tracing off)")
    if ctx.url and "otlp" not in ctx.settings.traces_exporters:
        ctx.settings = replace(ctx.settings, otlp_traces_endpoint=None)
        return Check("endpoint", "fail", "OTEL_TRACES_EXPORTER leaves out otlp: spans are not sent to the endpoint",
                     "add otlp to OTEL_TRACES_EXPORTER (e.g. otlp,console), or unset it")
    if not ctx.url:
        return Check("endpoint", "fail", "no OTLP endpoint is configured: spans are made but sent nowhere",
                     "set OTEL_EXPORTER_OTLP_ENDPOINT (http://127.0.0.1:4318 for the collector sidecar, the "
                     "Phoenix URL locally), or LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY")
    try:
        ctx.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        ctx.settings = replace(ctx.settings, otlp_traces_endpoint=None)
        return Check("endpoint", "fail", "the endpoint's port is not a number from 0 to 65535",
                     "fix the port in OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318)")
    source = ctx.settings.otlp_endpoint_source
    if source == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
        source += ", used as-is"
    elif source == "OTEL_EXPORTER_OTLP_ENDPOINT" and ctx.settings.otlp_protocol != "grpc":
        raw = shown_url(ctx.env["OTEL_EXPORTER_OTLP_ENDPOINT"].strip())
        source = f"normalized from OTEL_EXPORTER_OTLP_ENDPOINT={raw}"
    elif source == "LANGFUSE_HOST":
        source = "built from LANGFUSE_HOST and the Langfuse keys"
    return Check("endpoint", "ok", f"traces go to {ctx.settings.shown_traces_endpoint} ({source})")


def check_langfuse(ctx: _Context) -> Check:
    """Langfuse keys with an endpoint that is not Langfuse's: the keys are not sent, and the
    user who set them probably expected traces in Langfuse."""
    if ctx.settings is None or not ctx.settings.langfuse_problem:
        return Check("langfuse", "skip", "no Langfuse keys, or they go to Langfuse")
    return Check("langfuse", "warn", ctx.settings.langfuse_problem,
                 "to export to Langfuse, unset OTEL_EXPORTER_OTLP_ENDPOINT/OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or set "
                 "LANGFUSE_HOST to that host); otherwise unset the LANGFUSE_* keys")


def _resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting."""
    found: list[Any] = []

    def lookup() -> None:
        try:
            found.append(sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}))
        except OSError as error:
            found.append(error)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not found:
        raise TimeoutError(f"no DNS answer within {timeout_s:g} s")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


def check_dns(ctx: _Context) -> Check:
    if not ctx.url:
        return Check("dns", "skip", "no endpoint")
    try:
        ipaddress.ip_address(ctx.host)
        return Check("dns", "ok", f"{ctx.host} is an IP address: nothing to resolve")
    except ValueError:
        pass
    try:
        addresses = _resolve(ctx.host, ctx.port, ctx.timeout_s)
    except (OSError, TimeoutError) as error:
        return Check("dns", "fail", f"{ctx.host} does not resolve: {getattr(error, 'strerror', None) or error}",
                     "check the host name for typos; in a VPC, check the DNS settings and that the host is "
                     "public or has a private record")
    return Check("dns", "ok", f"{ctx.host} resolves to {', '.join(addresses[:4])}")


def _refused_advice(ctx: _Context) -> str:
    if _is_local(ctx.host):
        return (f"nothing listens on {ctx.host}:{ctx.port}: start the collector (docker compose up collector) or "
                f"a local Phoenix (make demo), or fix the port (OTLP/HTTP is 4318, Phoenix 6006)")
    return (f"{ctx.host} is up but nothing listens on port {ctx.port}: check the port (OTLP/HTTP 4318, gRPC 4317, "
            f"https 443) and the protocol")


def _timeout_advice(ctx: _Context) -> str:
    return (f"packets to {ctx.host}:{ctx.port} are dropped: a firewall or security group, a private subnet without "
            f"NAT, or a wrong host; raise --timeout (now {ctx.timeout_s:g} s) to rule out a slow network")


def check_tcp(ctx: _Context) -> Check:
    if not ctx.url:
        return Check("tcp", "skip", "no endpoint")
    target = f"{ctx.host}:{ctx.port}"
    try:
        with socket.create_connection((ctx.host, ctx.port), timeout=ctx.timeout_s):
            pass
    except ConnectionRefusedError:
        return Check("tcp", "fail", f"connection refused by {target}", _refused_advice(ctx))
    except TimeoutError:
        return Check("tcp", "fail", f"no TCP answer from {target} within {ctx.timeout_s:g} s", _timeout_advice(ctx))
    except OSError as error:
        return Check("tcp", "fail", f"cannot connect to {target}: {error.strerror or error}",
                     "check the host, the port and the network route to it")
    return Check("tcp", "ok", f"connected to {target}")


def _http_advice(ctx: _Context, status: int, path: str) -> str:
    """One line for a non-2xx answer to an OTLP export."""
    bearer = ctx.authorization.lower().startswith("bearer")
    if status in (401, 403):
        if bearer:
            return "the Authorization header is a Bearer token. " + _BASIC_ADVICE
        if not ctx.authorization:
            return ("no Authorization header was sent: set OTEL_EXPORTER_OTLP_HEADERS=Authorization=... (values "
                    "URL-encoded), or LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for Langfuse")
        return ("the credentials were refused: check the key (and, for Langfuse, that the key pair belongs to this "
                "host and region: Basic base64(public_key:secret_key))")
    if status in (404, 405):
        if path.count("/v1/traces") > 1:
            return (f"{path} has /v1/traces twice: give OTEL_EXPORTER_OTLP_ENDPOINT the base URL, or the full URL "
                    "in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as-is)")
        if _looks_like_langfuse(ctx.host) and "/api/public/otel" not in path:
            return (f"Langfuse's OTLP endpoint is https://{ctx.host}/api/public/otel (base URL): set "
                    "OTEL_EXPORTER_OTLP_ENDPOINT to that, or just LANGFUSE_HOST with the keys")
        if not path.endswith("/v1/traces"):
            return ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as-is and must end with /v1/traces; or set the base "
                    "URL in OTEL_EXPORTER_OTLP_ENDPOINT instead")
        return (f"no OTLP receiver at {path}: give the base URL (collector http://host:4318, Langfuse "
                "https://host/api/public/otel, Phoenix http://host:6006); is this port the OTLP/HTTP one?")
    if status == 415:
        return "the server does not take OTLP protobuf here: is this a gRPC port (4317) or another service?"
    if 300 <= status < 400:
        return "the endpoint redirects; OTLP exporters do not follow redirects: use the final URL (https?)"
    if status == 429 or status >= 500:
        return "the receiver is there but failing or throttling: check the backend's status and the collector's logs"
    return "unexpected answer from an OTLP receiver: check that the URL points at one"


@dataclass
class _Sent:
    """What the exporter's HTTP requests carried, and how the last one ended."""

    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    verify: object = True
    cert: object = None
    status: int | None = None
    reason: str = ""
    error: BaseException | None = None


@contextmanager
def _exporter_logs() -> Iterator[list[logging.LogRecord]]:
    """The OTLP exporters' log records while probing, kept from the terminal: the verdict says it."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("opentelemetry.exporter")
    handler, propagate = Keep(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _probe_http(ctx: _Context) -> _Sent:
    """An empty export by the service's own OTLP/HTTP exporter, over a requests session that
    records each request as the exporter resolved it (URL, headers, CA, client certificate)."""
    from agentcreator.telemetry.setup import build_otlp_exporter

    sent = _Sent()
    assert ctx.settings is not None
    exporter, _ = build_otlp_exporter(ctx.settings, probe=True, session=_recording_session(sent),
                                      timeout=ctx.timeout_s)
    try:
        with _exporter_logs():
            exporter.export([])
    finally:
        exporter.shutdown()
    return sent


def _tls(sent: _Sent) -> str:
    ca = "system CAs" if sent.verify is True else f"CA file {sent.verify}" if sent.verify else "no verification"
    return ca + (", client certificate" if sent.cert else "")


def _http_export(ctx: _Context) -> Check:
    import requests

    sent = _probe_http(ctx)
    shown, path = shown_url(sent.url or ctx.url or ""), urlsplit(sent.url or ctx.url or "").path or "/"
    compression = next((v for k, v in sent.headers.items() if k.lower() == "content-encoding"), "none")
    how = (f"headers sent: {', '.join(sorted(k.lower() for k in sent.headers)) or 'none'}; compression "
           f"{compression}" + (f"; TLS: {_tls(sent)}" if shown.startswith("https") else ""))
    error = sent.error
    if isinstance(error, requests.exceptions.SSLError) or (isinstance(error, OSError) and "certificate" in str(error)):
        return Check("export", "fail", f"TLS failed with {ctx.host}: {error} ({how})",
                     "http:// vs https:// mismatch, or a certificate this machine does not trust: check "
                     "OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE and the client certificate and key variables")
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.ReadTimeout):
        return Check("export", "fail", f"no answer to POST {shown} within {ctx.timeout_s:g} s",
                     "the port accepts connections but nothing answers HTTP: a gRPC port (4317), a stuck "
                     f"collector, or a slow network (raise --timeout, now {ctx.timeout_s:g} s)")
    if isinstance(error, requests.exceptions.ConnectionError):
        if "refused" in str(error).lower():
            return Check("export", "fail", f"connection refused by {ctx.host}:{ctx.port}", _refused_advice(ctx))
        return Check("export", "fail", f"POST {shown} failed: {type(error).__name__}: {error}",
                     "check that the URL points at an OTLP/HTTP receiver (a gRPC port answers HTTP/2 only)")
    if error is not None or sent.status is None:
        return Check("export", "fail", f"POST {shown} failed: {type(error).__name__}: {error}",
                     "check that the URL points at an OTLP/HTTP receiver")
    answer = f"HTTP {sent.status} {sent.reason}".strip()
    if 200 <= sent.status < 300:
        return Check("export", "ok", f"{answer}: {shown} accepted an empty OTLP export ({how})")
    return Check("export", "fail", f"{answer} to POST {path} on {ctx.host}:{ctx.port} ({how})",
                 _http_advice(ctx, sent.status, path))


def _grpc_export(ctx: _Context) -> Check:
    """An empty export by the service's own OTLP/gRPC exporter; its verdict from its result and
    the status code it logs."""
    import grpc

    from agentcreator.telemetry.setup import build_otlp_exporter

    assert ctx.settings is not None
    target = ctx.settings.shown_traces_endpoint
    exporter, _ = build_otlp_exporter(ctx.settings, probe=True, timeout=ctx.timeout_s)
    try:
        with _exporter_logs() as records:
            result = exporter.export([])
    finally:
        exporter.shutdown()
    if result.name == "SUCCESS":
        return Check("export", "ok",
                     f"{target} accepted an empty OTLP/gRPC export (headers sent: {_header_names(ctx)})")
    codes = [arg for record in records for arg in (record.args or ()) if isinstance(arg, grpc.StatusCode)]
    code = codes[-1] if codes else None
    detail = f"gRPC {code.name if code else 'export failed'} from {target}"
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return Check("export", "fail", detail, _http_advice(ctx, 401, ""))
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return Check("export", "fail", detail, "no OTLP gRPC service there: is it the HTTP port (4318)? Langfuse "
                     "takes OTLP over HTTP only (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Check("export", "fail", f"no answer from {target} within {ctx.timeout_s:g} s", _timeout_advice(ctx))
    return Check("export", "fail", detail, _refused_advice(ctx))


def check_export(ctx: _Context) -> Check:
    if not ctx.url or ctx.settings is None:
        return Check("export", "skip", "no endpoint")
    return _grpc_export(ctx) if ctx.settings.otlp_protocol == "grpc" else _http_export(ctx)


def check_instrumentation(ctx: _Context) -> Check:
    """Build the product's provider (without the OTLP exporter), instrument DSPy, and make one span."""
    if ctx.settings is None:
        return Check("instrumentation", "skip", "settings did not parse")
    if ctx.settings.sdk_disabled:
        return Check("instrumentation", "skip", "OTEL_SDK_DISABLED=true: nothing is instrumented")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcreator import telemetry
    from agentcreator.telemetry.setup import dspy_instrumented, ensure_dspy_instrumented

    exporter = InMemorySpanExporter()
    local = replace(ctx.settings, otlp_traces_endpoint=None, debug=False)
    telemetry.configure_tracing(local, extra_exporters=[exporter])
    try:
        ensure_dspy_instrumented()
        import dspy

        patched = dspy_instrumented() and hasattr(dspy.LM.__call__, "__wrapped__")
        with telemetry.set_session_context("doctor-session", "doctor-user"), \
                telemetry.get_tracer().start_as_current_span("doctor check"):
            pass
        spans = exporter.get_finished_spans()
        attributes = dict(spans[-1].attributes or {}) if spans else {}
    except Exception as error:  # an import or instrumentation failure is what we are looking for
        return Check("instrumentation", "fail", f"{type(error).__name__}: {error}",
                     "reinstall the runtime dependencies (dspy, openinference-instrumentation-dspy)")
    finally:
        telemetry.shutdown(timeout_s=5.0)
    if not patched:
        return Check("instrumentation", "fail", "dspy.LM is not instrumented: no LLM spans would be made",
                     "check openinference-instrumentation-dspy's version against dspy's (pinned in requirements)")
    if attributes.get("session.id") != "doctor-session" or attributes.get("user.id") != "doctor-user":
        return Check("instrumentation", "fail", "session.id/user.id from baggage did not reach the span",
                     "the session baggage span processor is missing from the provider (telemetry/baggage.py)")
    return Check("instrumentation", "ok", "DSPy instrumented (dspy.LM patched); the baggage processor copies "
                 "session.id and user.id onto spans")


def check_collector_health(ctx: _Context) -> Check:
    if not ctx.url:
        return Check("collector", "skip", "no endpoint")
    if not _is_local(ctx.host):
        return Check("collector", "skip", f"the endpoint is not on this machine ({ctx.host}): no sidecar to ask")
    parts = urlsplit(ctx.health_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=ctx.timeout_s)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        body = response.read(512).decode(errors="replace")
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        status, body = 0, f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}"
    finally:
        connection.close()
    where = f"{parts.hostname}:{parts.port}"
    if status == 200:
        state = json.loads(body).get("status", "") if body.startswith("{") else ""
        return Check("collector", "ok", f"health check at {where} answers 200 {state}".rstrip())
    export = ctx.results.get("export")
    if export is not None and export.status == "ok":
        return Check("collector", "skip", f"no collector health check at {where}, but the endpoint itself took the "
                     "export: it is not an ADOT collector (Phoenix?), which is fine")
    return Check("collector", "fail", f"the collector's health check at {where} does not answer "
                 f"({body if status == 0 else f'HTTP {status}'})",
                 "the collector sidecar is not running or not healthy: docker compose up collector, then its logs; "
                 "its config must enable the health_check extension")


def _metrics_skipped(settings: Settings | None) -> Check | None:
    """Why no metrics probe applies, as a check; None when one does."""
    if settings is None:
        return Check("metrics", "skip", "settings did not parse")
    if settings.sdk_disabled:
        return Check("metrics", "skip", "OTEL_SDK_DISABLED=true: no metric is made or sent")
    if "otlp" not in settings.metrics_exporters:
        return Check("metrics", "skip", "OTEL_METRICS_EXPORTER leaves out otlp: metrics are not sent")
    if settings.otlp_metrics_endpoint is None:
        if settings.metrics_problem:
            return Check("metrics", "warn", settings.metrics_problem,
                         "set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to a collector for the app's metrics "
                         "(docs/metrics.md), or OTEL_METRICS_EXPORTER=none to say none are wanted")
        return Check("metrics", "skip", "no metrics endpoint (none for traces either)")
    return None


def check_metrics(ctx: _Context) -> Check:
    """An empty metrics export by the service's own OTLP metric exporter, to the metrics endpoint."""
    skipped = _metrics_skipped(ctx.settings)
    if skipped is not None:
        return skipped
    assert ctx.settings is not None
    from agentcreator.telemetry.metrics import build_otlp_metric_exporter

    settings = ctx.settings
    target = settings.otlp_metrics_endpoint or ""
    shown = shown_url(target) if settings.otlp_metrics_protocol != "grpc" else f"{target} (OTLP/gRPC)"
    where = f"{shown} (from {settings.metrics_endpoint_source})"
    sent = _Sent()
    overrides: dict[str, Any] = {"timeout": ctx.timeout_s}
    if settings.otlp_metrics_protocol != "grpc":
        overrides["session"] = _recording_session(sent)
    exporter = build_otlp_metric_exporter(settings, **overrides)
    try:
        with _exporter_logs() as records:
            result = exporter.export(_empty_metrics(), timeout_millis=ctx.timeout_s * 1000)
    except Exception as error:  # a transport the exporter does not catch
        result, sent.error = None, error
    finally:
        exporter.shutdown(timeout_millis=ctx.timeout_s * 1000)
    if result is not None and result.name == "SUCCESS":
        return Check("metrics", "ok", f"metrics go to {where}, which accepted an empty OTLP metrics export")
    if sent.status:
        answer = f"HTTP {sent.status} {sent.reason}".strip()
    elif sent.error is not None:
        answer = "connection refused" if "refused" in str(sent.error).lower() else type(sent.error).__name__
    else:
        answer = next((record.getMessage() for record in reversed(records)), "the export failed")
    if sent.status in (404, 405) or "UNIMPLEMENTED" in answer:  # a traces-only receiver: traces still arrive
        return Check("metrics", "warn", f"metrics to {where}: {answer}",
                     "no OTLP metrics receiver there (Phoenix and Langfuse take traces only): point "
                     "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT at a collector, or set OTEL_METRICS_EXPORTER=none")
    return Check("metrics", "fail", f"metrics to {where}: {answer}",
                 "the app's metrics would be lost: check the metrics endpoint (docs/metrics.md), or set "
                 "OTEL_METRICS_EXPORTER=none if none are wanted")


def _recording_session(sent: _Sent) -> Any:
    """A requests session for an exporter that records into ``sent`` each request as the exporter
    resolved it (URL, headers, CA, client certificate) and how it ended."""
    import requests

    class Recording(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            sent.url, sent.headers = url, dict(kwargs.get("headers") or {})
            sent.verify, sent.cert = self.verify, self.cert
            sent.status, sent.error = None, None
            try:
                response = super().request(method, url, *args, **kwargs)
            except Exception as error:  # requests raises OSError too, e.g. for a missing CA file
                sent.error = error
                raise
            sent.status, sent.reason = response.status_code, response.reason or ""
            return response

    return Recording()


def _empty_metrics() -> Any:
    from opentelemetry.sdk.metrics.export import MetricsData

    return MetricsData(resource_metrics=[])


CHECKS: tuple[Callable[[_Context], Check], ...] = (
    check_settings, check_endpoint, check_langfuse, check_dns, check_tcp, check_export, check_instrumentation,
    check_collector_health, check_metrics,
)


def run_checks(env: Mapping[str, str] | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
               health_url: str = DEFAULT_HEALTH_URL) -> list[Check]:
    ctx = _Context(env=os.environ if env is None else env, timeout_s=timeout_s, health_url=health_url)
    for check in CHECKS:
        result = check(ctx)
        ctx.results[result.name] = result
    return list(ctx.results.values())


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds to wait for DNS, TCP and HTTP answers (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--health-url", default=DEFAULT_HEALTH_URL,
                        help=f"the collector's health check, asked when the endpoint is local "
                             f"(default {DEFAULT_HEALTH_URL})")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    results = run_checks(timeout_s=args.timeout, health_url=args.health_url)
    failed = [check for check in results if not check.ok]
    if args.json:
        print(json.dumps([{**asdict(check), "ok": check.ok} for check in results], indent=2))
    else:
        print("agentcreator doctor: can this environment's traces and metrics reach their backend?")
        for check in results:
            shown = check.status.upper() if check.status in ("fail", "warn") else check.status
            print(f"  {shown:<5} {check.name:<16} {check.detail}")
            if check.advice and check.status in ("fail", "warn"):
                print(f"        → {check.advice}")
        print(f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed" if failed else "all checks passed")
    sys.stdout.flush()
    return 1 if failed else 0
