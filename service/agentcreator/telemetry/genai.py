"""gen_ai.* attributes: openinference records ``llm.*``/``input.value``; users were promised both.

Token usage is written live onto the LLM span (DSPy's usage tracker runs inside it); the
remaining mapping, truncation and content switch happen at export time, on the exporter's
thread, so the request path pays nothing for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.util.types import AttributeValue

_log = logging.getLogger(__name__)
SIMULATED_SYSTEM = "agentcreator.offline (simulated)"
_PROVIDERS = {"bedrock": "aws.bedrock", "bedrock_converse": "aws.bedrock", "offline": SIMULATED_SYSTEM}
AGENT_NAME = "AgentCreator"  # gen_ai.agent.name of the root span: the meta-agent itself
CHAT = "chat"
COST_ATTRIBUTE = "gen_ai.usage.cost"  # USD; not (yet) in the semantic conventions, Langfuse reads it


def provider_name(model: str) -> str:
    """The semconv provider for a LiteLLM model string (``bedrock/...`` → ``aws.bedrock``)."""
    prefix = model.split("/", 1)[0] if "/" in model else model
    return _PROVIDERS.get(prefix, prefix)


def request_model(model: str) -> str:
    """The provider's model id, without LiteLLM's routing prefix."""
    return model.split("/", 1)[1] if "/" in model else model


def agent_attributes(model: str) -> Iterator[tuple[str, AttributeValue]]:
    """The root span as an agent invocation (semconv ``invoke_agent``), set at its start so a
    sampler sees them; its name stays the contract's."""
    yield "gen_ai.operation.name", "invoke_agent"
    yield "gen_ai.agent.name", AGENT_NAME
    yield "gen_ai.provider.name", provider_name(model)
    yield "gen_ai.request.model", request_model(model)


def tool_attributes(name: str, call_id: str) -> Iterator[tuple[str, AttributeValue]]:
    """A tool span as a tool execution (semconv ``execute_tool``); a function the client runs."""
    yield "gen_ai.operation.name", "execute_tool"
    yield "gen_ai.tool.name", name
    yield "gen_ai.tool.type", "function"
    yield "gen_ai.tool.call.id", call_id


def llm_span_name(attributes: Mapping[str, AttributeValue]) -> str:
    """``chat {gen_ai.request.model}``, the semconv span name of an inference call."""
    model = request_model(str(attributes.get("llm.model_name") or ""))
    return f"{CHAT} {model}" if model else CHAT


def token_count_attributes(input_tokens: int, output_tokens: int) -> Iterator[tuple[str, int]]:
    """openinference's token counts: what the LLM span carries while open (Phoenix and Langfuse
    read them); the gen_ai.usage.* names are derived from them at export (``genai_attributes``)."""
    yield "llm.token_count.prompt", input_tokens
    yield "llm.token_count.completion", output_tokens
    yield "llm.token_count.total", input_tokens + output_tokens


def _gen_ai_usage_attributes(input_tokens: int, output_tokens: int) -> Iterator[tuple[str, int]]:
    """Token counts under the older GenAI names (prompt/completion) and the current semantic conventions'."""
    yield "gen_ai.usage.input_tokens", input_tokens
    yield "gen_ai.usage.output_tokens", output_tokens
    yield "gen_ai.usage.prompt_tokens", input_tokens
    yield "gen_ai.usage.completion_tokens", output_tokens
    yield "gen_ai.usage.total_tokens", input_tokens + output_tokens


def usage_attributes(input_tokens: int, output_tokens: int) -> Iterator[tuple[str, int]]:
    """Token counts under the older GenAI names, the current semantic conventions' and openinference's own."""
    yield from _gen_ai_usage_attributes(input_tokens, output_tokens)
    yield from token_count_attributes(input_tokens, output_tokens)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_MARKER_BYTES = 40  # room for "…[truncated N bytes]"


def _marker(removed: int) -> str:
    return f"…[truncated {removed} bytes]"


def utf8(value: str) -> bytes:
    """``value`` as UTF-8; a lone surrogate (not valid Unicode) becomes "?", as protobuf strings
    must be valid UTF-8."""
    return value.encode(errors="replace")


class Utf8Text:
    """A string attribute already encoded as UTF-8, for the OTLP encoder to write as it is: the
    mapping encodes long non-ASCII strings to measure them, and a cut made on the bytes needs no
    decoding into a new string (two bytes a character) only to be encoded again. Never an
    attribute value itself: it sits inside ``Utf8Attributes``, which reads it back as ``str``."""

    __slots__ = ("utf8",)

    def __init__(self, utf8: bytes) -> None:
        self.utf8 = utf8

    def __repr__(self) -> str:
        return f"Utf8Text({self.utf8[:40]!r}..., {len(self.utf8)} bytes)"


class Utf8Attributes(Mapping):
    """A span's attributes where some strings are held as their UTF-8 (``Utf8Text``): every reader
    (``ReadableSpan.attributes``, any exporter or processor) gets valid attribute values, those
    strings decoded on access; only our OTLP encoder takes ``raw``, bytes as they are."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, AttributeValue | Utf8Text]) -> None:
        self.raw = raw

    def __getitem__(self, key: str) -> AttributeValue:
        value = self.raw[key]
        return value.utf8.decode() if isinstance(value, Utf8Text) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class EncodedSpan(ReadableSpan):
    """A ReadableSpan over ``Utf8Attributes``, which it also keeps for our OTLP encoder."""

    def __init__(self, *, attributes: Utf8Attributes, **fields: Any) -> None:
        super().__init__(attributes=attributes, **fields)
        self.utf8_attributes = attributes


class _Utf8:
    """UTF-8 sizes of one span's strings, each encoded at most once: a prompt with one non-ASCII
    character costs an encoding per look, and an LLM span holds it three times (gen_ai.prompt is
    the very string input.value is). With ``encoded``, what it cuts or encodes comes back as
    ``Utf8Text``."""

    def __init__(self, *, encoded: bool = False) -> None:
        self._as_bytes = encoded
        # by id(), holding the string too: a string freed mid-mapping cannot lend its id to another
        self._encoded: dict[int, tuple[str, bytes]] = {}
        self._cut: dict[tuple[int, int], tuple[str, str | Utf8Text]] = {}  # (id, limit) -> (string, its cut)

    def _bytes(self, value: str) -> bytes:
        entry = self._encoded.get(id(value))
        if entry is None:
            entry = self._encoded[id(value)] = (value, utf8(value))
        return entry[1]

    def size(self, value: str) -> int:
        return len(value) if value.isascii() else len(self._bytes(value))

    def encoded(self, value: str) -> str | Utf8Text:
        """``value``, or in ``encoded`` mode its UTF-8 if it was encoded to be measured."""
        if not self._as_bytes:
            return value
        entry = self._encoded.get(id(value))
        return value if entry is None else Utf8Text(entry[1])

    def truncate(self, value: str, limit: int) -> str | Utf8Text:
        """At most ``limit`` bytes of ``value`` (cut on a character boundary), then a marker;
        gen_ai.prompt and input.value, one string, get one cut string."""
        entry = self._cut.get((id(value), limit))
        if entry is None:
            entry = self._cut[(id(value), limit)] = (value, self._truncated(value, limit))
        return entry[1]

    def _truncated(self, value: str, limit: int) -> str | Utf8Text:
        if value.isascii():  # the common case: characters are bytes, no encoding round trip
            if len(value) <= limit:
                return value
            if self._as_bytes:
                return Utf8Text((value[:limit] + _marker(len(value) - limit)).encode())
            return value[:limit] + _marker(len(value) - limit)
        data = self._bytes(value)
        if len(data) <= limit:
            return self.encoded(value)
        end = limit
        while end and (data[end] & 0xC0) == 0x80:  # a continuation byte: the cut is inside a character
            end -= 1
        if self._as_bytes:  # one copy of the kept part, not a slice then a concatenation
            return Utf8Text(b"".join((memoryview(data)[:end], _marker(len(data) - limit).encode())))
        return data[:end].decode() + _marker(len(data) - limit)


def _share_cap(sizes: list[int], budget: int) -> int | None:
    """The largest cap c with sum(min(size, c)) <= budget (None when all fits): long strings are
    cut to the same length, short ones stay whole."""
    if sum(sizes) <= budget:
        return None
    ordered, remaining = sorted(sizes), budget
    for index, size in enumerate(ordered):
        share = remaining // (len(ordered) - index)
        if size > share:
            return share
        remaining -= size
    return None


def genai_attributes(attributes: Mapping[str, AttributeValue]) -> Iterator[tuple[str, AttributeValue]]:
    """The gen_ai.* names derived from what openinference recorded on an LLM span."""
    model = str(attributes.get("llm.model_name") or "")
    llm_provider = attributes.get("llm.provider")
    provider = _PROVIDERS.get(str(llm_provider), str(llm_provider)) if llm_provider else provider_name(model)
    yield "gen_ai.system", provider
    yield "gen_ai.provider.name", provider
    yield "gen_ai.operation.name", CHAT
    yield "gen_ai.request.model", request_model(model)
    yield "gen_ai.response.model", request_model(str(attributes.get("agentcreator.lm.response_model") or model))
    if "input.value" in attributes:
        yield "gen_ai.prompt", attributes["input.value"]
    if "output.value" in attributes:
        yield "gen_ai.completion", attributes["output.value"]
    prompt, completion = _count(attributes.get("llm.token_count.prompt")), _count(
        attributes.get("llm.token_count.completion"))
    if prompt is None or completion is None:
        yield from usage_attributes(0, 0)  # no usage reported (a cache hit, a failed call)
    else:
        yield from _gen_ai_usage_attributes(prompt, completion)


# An export request carries at most about this many bytes of attribute strings, well under
# the 4 MiB a collector's OTLP/gRPC receiver takes by default, whatever the batch and span
# budgets are set to. (Smaller requests cost ~0.6 ms each and saved no memory once freed
# memory is trimmed: export.MemoryTrimmer.)
MAX_REQUEST_STRING_BYTES = 2 * 1024 * 1024
_SPAN_FRAME_BYTES = 256  # ids, times, names and framing of one span, roughly


class GenAiSpanExporter(SpanExporter):
    """Wraps any exporter: adds gen_ai.* to LLM spans and names them ``chat {model}``, and truncates
    long strings before export: each to ``max_content_bytes``, and all of a span's together to
    ``max_span_bytes``. A batch is
    handed on in requests of at most ``max_request_bytes`` (about), mapped one request at a time.
    With ``encoded_strings`` (for our OTLP encoder), strings it cuts or measured as UTF-8 are
    handed on as their bytes, inside ``EncodedSpan``s whose attributes still read as text."""

    def __init__(self, inner: SpanExporter, *, max_content_bytes: int = 16384, max_span_bytes: int = 40960,
                 max_request_bytes: int = MAX_REQUEST_STRING_BYTES, encoded_strings: bool = False) -> None:
        self._inner = inner
        self._encoded_strings = encoded_strings
        self._limit = max_content_bytes
        self._span_budget = max_span_bytes
        self._request_budget = max_request_bytes

    @property
    def inner(self) -> SpanExporter:
        return self._inner

    def _mapped(self, span: ReadableSpan) -> tuple[ReadableSpan, int]:
        """The span as exported, and about how many bytes it adds to a request."""
        attributes = dict(span.attributes or {})
        name = span.name
        if attributes.get("openinference.span.kind") == "LLM":
            attributes.update(genai_attributes(attributes))
            name = llm_span_name(attributes)
        string_bytes = self._fit(attributes)
        fields = {"name": name, "context": span.context, "parent": span.parent, "resource": span.resource,
                  "events": span.events, "links": span.links, "kind": span.kind, "status": span.status,
                  "start_time": span.start_time, "end_time": span.end_time,
                  "instrumentation_scope": span.instrumentation_scope}
        if self._encoded_strings:
            return EncodedSpan(attributes=Utf8Attributes(attributes), **fields), string_bytes + _SPAN_FRAME_BYTES
        return ReadableSpan(attributes=attributes, **fields), string_bytes + _SPAN_FRAME_BYTES

    def _fit(self, attributes: dict[str, AttributeValue]) -> int:
        """Cut each string to ``max_content_bytes`` and all of a span's together to ``max_span_bytes``
        (an LLM span carries its prompt up to four times: input.value, messages, gen_ai.prompt, and
        X-Ray rejects a segment over 64 KB), each string at most once, its marker counting what
        was cut from the original. Returns the bytes of string values (and keys) left."""
        utf8 = _Utf8(encoded=self._encoded_strings)
        sizes = {key: utf8.size(value) for key, value in attributes.items() if isinstance(value, str)}
        keys = sum(len(key) for key in attributes)
        # what each string comes to after the per-string limit, marker included
        fitted = {key: size if size <= self._limit else self._limit + _MARKER_BYTES for key, size in sizes.items()}
        long = {key: size for key, size in fitted.items() if size > _MARKER_BYTES}
        short_total = sum(fitted.values()) - sum(long.values())
        cap = _share_cap(list(long.values()), self._span_budget - short_total - _MARKER_BYTES * len(long))
        for key, size in long.items():
            limit = self._limit if cap is None or size <= cap else min(cap, self._limit)
            value = str(attributes[key])
            attributes[key] = utf8.truncate(value, limit) if sizes[key] > limit else utf8.encoded(value)
        if cap is None:
            return keys + sum(fitted.values())
        return keys + short_total + sum(min(size, cap + _MARKER_BYTES) for size in long.values())

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Map and hand on one request's worth at a time; any request failing fails the batch."""
        return self.export_counting_failures(spans)[0]

    def export_counting_failures(self, spans: Sequence[ReadableSpan]) -> tuple[SpanExportResult, int]:
        """``export``, also saying how many spans were in requests that failed: a batch can go out
        in several requests, and one failing loses only its own spans."""
        failed = 0
        request: list[ReadableSpan] = []
        size = 0
        for span in spans:
            mapped, span_bytes = self._mapped(span)
            if request and size + span_bytes > self._request_budget:
                failed += self._send(request)
                request, size = [], 0
            request.append(mapped)
            size += span_bytes
        if request:
            failed += self._send(request)
        return (SpanExportResult.FAILURE if failed else SpanExportResult.SUCCESS), failed

    def _send(self, request: list[ReadableSpan]) -> int:
        """Spans lost with this request: none, or all of them (also when the exporter raises)."""
        try:
            result = self._inner.export(request)
        except Exception:  # logged as the SDK's batch processor would; the next request still goes
            _log.exception("Exception while exporting %d spans", len(request))
            return len(request)
        return 0 if result is SpanExportResult.SUCCESS else len(request)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
