"""``agentcreator doctor``: the troubleshooting checklist for "my traces do not show up", automated.

Each check is a small function of a shared context returning a ``Check``: settings parse, an
endpoint is configured (none is a failure: spans would go nowhere), DNS, TCP, a real empty OTLP
export classified by its answer, DSPy instrumentation and the session-baggage processor, and
the local collector's health check. Exit 0 when nothing failed, 1 otherwise. Header values are
never shown, only their names.

    $ OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 agentcreator doctor --json
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from agentcreator.config import Settings

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_HEALTH_URL = "http://127.0.0.1:13133/"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
_BASIC_ADVICE = ("Langfuse takes Basic auth, not Bearer: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20<base64 of "
                 "public_key:secret_key> (the space URL-encoded as %20), or set LANGFUSE_PUBLIC_KEY and "
                 "LANGFUSE_SECRET_KEY and let AgentCreator build it")


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ok, fail or skip (not applicable here)."""

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


def _shown_url(url: str) -> str:
    """The URL without any user:password part, safe to print."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


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
        return Check("settings", "fail", str(error), "fix that variable; the README's configuration table lists "
                     "what each one accepts")
    s = ctx.settings
    return Check("settings", "ok", f"environment {s.environment}, protocol {s.otlp_protocol}, "
                 f"export timeout {s.otlp_timeout_s:g} s, headers: {_header_names(ctx)}")


def check_endpoint(ctx: _Context) -> Check:
    if ctx.settings is None:
        return Check("endpoint", "skip", "settings did not parse")
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
    if ctx.env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, used as-is"
    elif ctx.env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        raw = _shown_url(ctx.env["OTEL_EXPORTER_OTLP_ENDPOINT"].strip())
        source = f"normalized from OTEL_EXPORTER_OTLP_ENDPOINT={raw}"
    else:
        source = "built from LANGFUSE_HOST and the Langfuse keys"
    return Check("endpoint", "ok", f"traces go to {_shown_url(ctx.url)} ({source})")


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


def _post_empty_export(ctx: _Context) -> tuple[int, str]:
    """POST an empty ExportTraceServiceRequest as an exporter would; returns (status, reason)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    assert ctx.settings is not None and ctx.url is not None
    parts = urlsplit(ctx.url)
    body = ExportTraceServiceRequest().SerializeToString()
    headers = {**ctx.settings.otlp_headers, "content-type": "application/x-protobuf",
               "content-length": str(len(body))}
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            ctx.host, ctx.port, timeout=ctx.timeout_s, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(ctx.host, ctx.port, timeout=ctx.timeout_s)
    try:
        connection.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        response.read(4096)
        return response.status, response.reason
    finally:
        connection.close()


def _grpc_export(ctx: _Context) -> Check:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

    from agentcreator.config import grpc_endpoint

    target = f"{ctx.host}:{ctx.port}"
    secure = urlsplit(grpc_endpoint(ctx.url or "")).scheme == "https"
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials()) if secure else grpc.insecure_channel(target)
    assert ctx.settings is not None
    try:
        TraceServiceStub(channel).Export(ExportTraceServiceRequest(), timeout=ctx.timeout_s,
                                         metadata=list(ctx.settings.otlp_headers.items()))
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        detail = f"gRPC {code.name} from {target}"
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return Check("export", "fail", detail, _http_advice(ctx, 401, ""))
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return Check("export", "fail", detail, "no OTLP gRPC service there: is it the HTTP port (4318)? Langfuse "
                         "takes OTLP over HTTP only (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Check("export", "fail", f"no answer from {target} within {ctx.timeout_s:g} s", _timeout_advice(ctx))
        return Check("export", "fail", detail, _refused_advice(ctx))
    finally:
        channel.close()
    return Check("export", "ok", f"{target} accepted an empty OTLP/gRPC export")


def check_export(ctx: _Context) -> Check:
    if not ctx.url or ctx.settings is None:
        return Check("export", "skip", "no endpoint")
    if ctx.settings.otlp_protocol == "grpc":
        return _grpc_export(ctx)
    shown, path = _shown_url(ctx.url), urlsplit(ctx.url).path or "/"
    try:
        status, reason = _post_empty_export(ctx)
    except ConnectionRefusedError:
        return Check("export", "fail", f"connection refused by {ctx.host}:{ctx.port}", _refused_advice(ctx))
    except TimeoutError:
        return Check("export", "fail", f"no answer to POST {shown} within {ctx.timeout_s:g} s",
                     "the port accepts connections but nothing answers HTTP: a gRPC port (4317), a stuck "
                     f"collector, or a slow network (raise --timeout, now {ctx.timeout_s:g} s)")
    except ssl.SSLError as error:
        return Check("export", "fail", f"TLS failed with {ctx.host}: {error.reason or error}",
                     "http:// vs https:// mismatch, or a certificate this machine does not trust")
    except (OSError, http.client.HTTPException) as error:
        return Check("export", "fail", f"POST {shown} failed: {type(error).__name__}: {error}",
                     "check that the URL points at an OTLP/HTTP receiver")
    answer = f"HTTP {status} {reason}".strip()
    if 200 <= status < 300:
        return Check("export", "ok", f"{answer}: {shown} accepted an empty OTLP export")
    return Check("export", "fail", f"{answer} to POST {path} on {ctx.host}:{ctx.port} (headers sent: "
                 f"{_header_names(ctx)})", _http_advice(ctx, status, path))


def check_instrumentation(ctx: _Context) -> Check:
    """Build the product's provider (without the OTLP exporter), instrument DSPy, and make one span."""
    if ctx.settings is None:
        return Check("instrumentation", "skip", "settings did not parse")
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


CHECKS: tuple[Callable[[_Context], Check], ...] = (
    check_settings, check_endpoint, check_dns, check_tcp, check_export, check_instrumentation, check_collector_health,
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
        print("agentcreator doctor: can this environment's traces reach their backend?")
        for check in results:
            print(f"  {'FAIL' if check.status == 'fail' else check.status:<5} {check.name:<16} {check.detail}")
            if check.advice and check.status == "fail":
                print(f"        → {check.advice}")
        print(f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed" if failed else "all checks passed")
    sys.stdout.flush()
    return 1 if failed else 0
