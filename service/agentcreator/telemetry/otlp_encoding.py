"""OTLP encoding of spans, written straight to protobuf wire bytes: the SDK's request, byte for
byte, without building it as messages first.

The SDK's ``encode_spans`` builds each attribute, span and scope as a message of its own and
copies it into its parent, so the ~40 KB of prompt and completion on an LLM span is copied four
times; filling one request message in place copies each string twice more (into the message,
then into the serialized buffer, which grows by reallocation and faults in fresh pages). Here
each string is encoded to UTF-8 once and joined once, which halves the encoding's cost per LLM
call and removes nearly all its page faults (the figures: docs/engineering-notes.md). A unit
test compares the bytes with the SDK's deterministic serialization, on real and synthetic spans.

String, integer and boolean attributes (nearly all of ours) take the fast path, as do strings the
export mapping already encoded (``genai.Utf8Text``: the cut prompts); a span's fixed fields
(kind, flags, a status, its name), and each short string attribute with its key, come from kept
bytes. Any other attribute value, and events,
links, resource and scope, are encoded by the SDK's own helpers. A string
that is not valid Unicode (a lone surrogate) is sent with the offending characters replaced,
where the SDK would fail the whole batch.

``install()`` points the OTLP/HTTP exporter at this encoder (it has no seam but its module's
``encode_spans`` name) and ``uninstall()`` restores it; the gRPC exporter gets it through its
``_translate_data`` method, in ``grpc_span_exporter_class()``.
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanContext, StatusCode

from agentcreator.telemetry.genai import Utf8Text, utf8
from agentcreator.telemetry.seams import warn_once

try:  # the SDK's own encoders for the rare fields (opentelemetry-exporter-otlp-proto-common 1.45), private
    from opentelemetry.exporter.otlp.proto.common._internal import (
        _encode_instrumentation_scope,
        _encode_key_value,
        _encode_resource,
    )
    from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
        _SPAN_KIND_MAP,
        _encode_events,
        _encode_links,
        _encode_trace_state,
        _span_flags,
    )

    HELPERS_FOUND = True
except ImportError:
    HELPERS_FOUND = False

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Status

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_original: dict[str, Any] = {}

_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack
_ONE_BYTE = [bytes((value,)) for value in range(0x80)]
_INT64_LIMIT = 1 << 63
# Attribute keys and span names are few and fixed (ours, openinference's): their fields are kept,
# up to a bound for odd callers.
_KEYS: dict[str, bytes] = {}  # attribute key -> its KeyValue.key field
_NAMES: dict[str, bytes] = {}  # span name -> its Span.name field
# Short string attributes repeat from span to span (kinds, models, roles, mime types, the session):
# each (key, value) is kept as its whole ``attributes`` field.
_SHORT_FIELDS: dict[tuple[str, str], bytes] = {}
_SHORT_CHARS = 128
# Identifiers new with each invocation or call: kept, they would only fill the cache (~1 MB at its
# bound) and push out the fields that do repeat.
_UNREPEATED_KEYS = frozenset({"session.id", "user.id", "gen_ai.tool.call.id", "aws.request_id",
                              "agentcreator.error_id"})
_CACHE_MAX = 4096
_LONG_CHARS = 1024  # strings this long are looked up by identity before encoding, and kept whole


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: tag, length, data."""
    return tag + _varint(len(data)) + data


# Span.kind (field 6) by the SDK's kind; Span.flags (field 16): whether the parent is remote is known
if HELPERS_FOUND:
    _KIND_FIELDS = {kind: (b"\x30" + _varint(value) if value else b"") for kind, value in _SPAN_KIND_MAP.items()}
    _REMOTE = SpanContext(trace_id=1, span_id=1, is_remote=True)
    _LOCAL_PARENT_FLAGS = b"\x85\x01" + _fixed32(_span_flags(None))
    _REMOTE_PARENT_FLAGS = b"\x85\x01" + _fixed32(_span_flags(_REMOTE))
_PLAIN_STATUS_FIELDS = {code.value: _field(b"\x7a", b"\x18" + _varint(code.value) if code.value else b"")
                        for code in StatusCode}  # a status without a description, by its code


def _keep(cache: dict[Any, bytes], key: Any, field: bytes) -> bytes:
    """Keep ``field`` under ``key``; a cache at its bound is emptied first rather than grown."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = field
    return field


def _cached_field(cache: dict[str, bytes], tag: bytes, text: str) -> bytes:
    """``text`` as a length-delimited field (nothing for "", as protobuf omits it), from ``cache``."""
    field = cache.get(text)
    if field is None:
        field = _keep(cache, text, _field(tag, utf8(text)) if text else b"")
    return field


def _attribute_field(key: str, any_value: bytes) -> bytes:
    """A span's ``attributes`` field (9): the KeyValue of ``key`` and an encoded ``AnyValue``."""
    return _field(b"\x4a", _cached_field(_KEYS, b"\x0a", key) + _field(b"\x12", any_value))


def _status_field(status: Status) -> bytes:
    """``Span.status`` (field 15): the SDK's ``Status(code, message)``, message (2) then code (3)."""
    code = status.status_code.value
    if not status.description and code in _PLAIN_STATUS_FIELDS:
        return _PLAIN_STATUS_FIELDS[code]
    body = (_field(b"\x12", utf8(status.description)) if status.description else b"") + (
        b"\x18" + _varint(code) if code else b"")
    return _field(b"\x7a", body)


class _Pieces:
    """A span's bytes in few pieces: small fields are joined into runs as they come, long strings
    are kept whole until the request's one join, so each prompt is copied once (the alternatives
    and their memory figures: docs/engineering-notes.md, Performance)."""

    __slots__ = ("done", "run")

    def __init__(self) -> None:
        self.done: list[bytes] = []
        self.run: list[bytes] = []

    def long(self, header: bytes, data: bytes) -> None:
        self.run.append(header)
        self.done += (b"".join(self.run), data)
        self.run = []

    def finish(self) -> list[bytes]:
        if self.run:
            self.done.append(b"".join(self.run))
        return self.done


def _add_attributes(pieces: _Pieces, attributes: Mapping[str, Any] | None) -> None:
    """Append each attribute as a span's ``attributes`` field (9); a value the SDK cannot encode
    is skipped and logged, as the SDK does."""
    out = pieces.run
    long_strings: dict[int, bytes] = {}  # gen_ai.prompt is input.value's very string: encode it once
    for key, value in (attributes or {}).items():
        kind = value.__class__
        if kind is str and len(value) < _SHORT_CHARS:
            field = _SHORT_FIELDS.get((key, value))
            if field is None:  # AnyValue.string_value
                field = _attribute_field(key, _field(b"\x0a", utf8(value)))
                if key not in _UNREPEATED_KEYS:
                    _keep(_SHORT_FIELDS, (key, value), field)
            out.append(field)
            continue
        if kind is str or kind is Utf8Text:
            if kind is Utf8Text:
                data = value.utf8
            elif len(value) < _LONG_CHARS:
                data = utf8(value)
            elif (data := long_strings.get(id(value))) is None:  # type: ignore[assignment]
                data = long_strings[id(value)] = utf8(value)
            any_value = b"\x0a" + _varint(len(data))  # AnyValue.string_value, then the data itself
            key_value = _cached_field(_KEYS, b"\x0a", key) + b"\x12" + _varint(len(any_value) + len(data))
            header = b"\x4a" + _varint(len(key_value) + len(any_value) + len(data)) + key_value + any_value
            if len(data) < _LONG_CHARS:
                out.append(header + data)
            else:
                pieces.long(header, data)
                out = pieces.run
            continue
        if kind is int and 0 <= value < _INT64_LIMIT:
            any_value = b"\x18" + _varint(value)
        elif kind is bool:
            any_value = b"\x10\x01" if value else b"\x10\x00"
        else:
            try:
                out.append(_field(b"\x4a", _encode_key_value(key, value).SerializeToString()))
            except Exception as error:  # the SDK logs and drops such a key; so do we
                _log.exception("Failed to encode key %s: %s", key, error)
            continue
        out.append(_attribute_field(key, any_value))


def _span_pieces(span: ReadableSpan) -> list[bytes]:
    """The fields of one ``Span`` message, in field-number order as protobuf writes them."""
    context = span.get_span_context()
    pieces = _Pieces()
    out = pieces.run
    out += (b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big"))
    if context.trace_state and (trace_state := _encode_trace_state(context.trace_state)):
        out.append(_field(b"\x1a", trace_state.encode()))
    parent = span.parent
    if parent:
        out.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    if span.name:
        out.append(_cached_field(_NAMES, b"\x2a", span.name))
    out.append(_KIND_FIELDS[span.kind])
    if span.start_time:
        out.append(b"\x39" + _fixed64(span.start_time))
    if span.end_time:
        out.append(b"\x41" + _fixed64(span.end_time))
    encoded = getattr(span, "utf8_attributes", None)  # genai.EncodedSpan: some strings are their UTF-8
    _add_attributes(pieces, encoded.raw if encoded is not None else span.attributes)
    out = pieces.run
    if span.dropped_attributes:
        out.append(b"\x50" + _varint(span.dropped_attributes))
    if span.events:
        out.extend(_field(b"\x5a", event.SerializeToString()) for event in _encode_events(span.events))
    if span.dropped_events:
        out.append(b"\x60" + _varint(span.dropped_events))
    if span.links:
        out.extend(_field(b"\x6a", link.SerializeToString()) for link in _encode_links(span.links))
    if span.dropped_links:
        out.append(b"\x70" + _varint(span.dropped_links))
    if span.status is not None:
        out.append(_status_field(span.status))
    out.append(_REMOTE_PARENT_FLAGS if parent is not None and parent.is_remote else _LOCAL_PARENT_FLAGS)
    return pieces.finish()


def _grouped(spans: Sequence[ReadableSpan]) -> list[tuple[Resource, dict[InstrumentationScope | None, list]]]:
    """Spans by resource (equal resources are one group, as in the SDK), then by scope."""
    groups: dict[Resource, dict[InstrumentationScope | None, list[ReadableSpan]]] = {}
    # A Resource hashes by JSON-dumping its attributes; spans share one object, so look it up
    # by identity first (the spans hold every resource alive while this runs).
    by_identity: dict[int, dict[InstrumentationScope | None, list[ReadableSpan]]] = {}
    for span in spans:
        by_scope = by_identity.get(id(span.resource))
        if by_scope is None:
            by_scope = by_identity[id(span.resource)] = groups.setdefault(span.resource, {})
        by_scope.setdefault(span.instrumentation_scope or None, []).append(span)
    return list(groups.items())


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` the SDK's ``encode_spans`` builds."""
    out: list[bytes] = []
    for resource, by_scope in _grouped(spans):
        resource_spans = [_field(b"\x0a", _encode_resource(resource).SerializeToString())]
        for scope, members in by_scope.items():
            scope_spans = [_field(b"\x0a", _encode_instrumentation_scope(scope).SerializeToString())]
            for span in members:
                fields = _span_pieces(span)
                scope_spans.append(b"\x12" + _varint(sum(map(len, fields))))
                scope_spans.extend(fields)
            if scope is not None and scope.schema_url:
                scope_spans.append(_field(b"\x1a", scope.schema_url.encode()))
            resource_spans.append(b"\x12" + _varint(sum(map(len, scope_spans))))
            resource_spans.extend(scope_spans)
        if resource.schema_url:
            resource_spans.append(_field(b"\x1a", resource.schema_url.encode()))
        out.append(b"\x0a" + _varint(sum(map(len, resource_spans))))
        out.extend(resource_spans)
    return b"".join(out)


class _Encoded:
    """What the OTLP/HTTP exporter asks of ``encode_spans``'s result: its serialized bytes."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def SerializePartialToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        return self._data


def _encode_for_http_exporter(spans: Sequence[ReadableSpan]) -> _Encoded:
    return _Encoded(encode_request(spans))


_SEAM_HTTP = "opentelemetry-exporter-otlp-proto-http's trace_exporter.encode_spans"
_SEAM_GRPC = "opentelemetry-exporter-otlp-proto-grpc's OTLPSpanExporter._translate_data"
_SEAM_HELPERS = "opentelemetry-exporter-otlp-proto-common's _internal encoders"


def _fall_back(seam: str, what: str) -> bool:
    """Log once per seam that the SDK's own encoder is used; always False."""
    warn_once(_log, seam, "%s %s: spans are encoded by the SDK's own encoder (slower, same data)", seam, what)
    return False


def install() -> bool:
    """Make the OTLP/HTTP exporter encode with ``encode_request`` above, and check that it does:
    one span goes through a real exporter (to a transport that sends nothing), and its bytes
    must be ours. True when installed; otherwise the SDK's encoder stays, with one warning.
    Idempotent."""
    if not HELPERS_FOUND:
        return _fall_back(_SEAM_HELPERS, "moved")
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    with _lock:
        if _original:
            return True
        original = getattr(trace_exporter, "encode_spans", None)
        if original is None:
            return _fall_back(_SEAM_HTTP, "is gone")
        trace_exporter.encode_spans = _encode_for_http_exporter
        _original["encode_spans"] = original
        try:
            works = _exporter_uses_our_encoder(trace_exporter.OTLPSpanExporter)
        except Exception:  # a changed exporter may fail anyhow here: the SDK's path is the safe one
            _log.debug("checking the OTLP/HTTP exporter's encoder failed", exc_info=True)
            works = False
        if not works:
            trace_exporter.encode_spans = _original.pop("encode_spans")
            return _fall_back(_SEAM_HTTP, "is no longer what the exporter calls")
        return True


def _exporter_uses_our_encoder(exporter_class: type) -> bool:
    """Export one span through ``exporter_class``, over a requests session that keeps the body
    instead of sending it. Its one attribute reads one way as a ``str`` (what the SDK's encoder
    sees) and holds other bytes for ours: True if the body carries ours."""
    import requests
    from opentelemetry.sdk.resources import Resource

    from agentcreator.telemetry.genai import EncodedSpan, Utf8Attributes

    bodies: list[bytes] = []

    class _Keep(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN003
            bodies.append(request.body or b"")
            response = requests.Response()
            response.status_code, response.reason, response.request = 200, "OK", request
            return response

        def close(self) -> None:
            pass

    class _Probe(Utf8Attributes):
        __slots__ = ()

        def __getitem__(self, key: str) -> str:
            return "read as text"

    session = requests.Session()
    session.mount("http://", _Keep())
    span = EncodedSpan(name="probe", context=SpanContext(trace_id=1, span_id=1, is_remote=False),
                       resource=Resource({}), attributes=_Probe({"probe": Utf8Text(b"encoded as bytes")}))
    exporter = exporter_class(endpoint="http://127.0.0.1:9/v1/traces", session=session, timeout=1)
    try:
        exporter.export([span])
    finally:
        exporter.shutdown()
    return len(bodies) == 1 and b"encoded as bytes" in bodies[0]


def installed() -> bool:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    return trace_exporter.encode_spans is _encode_for_http_exporter


def uninstall() -> None:
    """Give the OTLP/HTTP exporter its own encoder back."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    with _lock:
        if _original:
            trace_exporter.encode_spans = _original.pop("encode_spans")


def grpc_span_exporter_class() -> tuple[type, bool]:
    """The SDK's OTLP/gRPC span exporter, translating with ``encode_request`` above through its
    ``_translate_data`` method (gRPC wants a message, so the bytes are parsed back: the default
    transport is HTTP); the SDK's class as it is when that method is gone. Also says which."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    if not HELPERS_FOUND:
        return OTLPSpanExporter, _fall_back(_SEAM_HELPERS, "moved")
    if not callable(getattr(OTLPSpanExporter, "_translate_data", None)):
        return OTLPSpanExporter, _fall_back(_SEAM_GRPC, "is gone")

    class GrpcSpanExporter(OTLPSpanExporter):
        def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
            return ExportTraceServiceRequest.FromString(encode_request(data))

    return GrpcSpanExporter, True
