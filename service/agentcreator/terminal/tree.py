"""A readable trace tree for the terminal: the contract's spans, with durations and tokens.

openinference's CHAIN/adapter spans are folded into the stage above them; LLM calls are
counted and their tokens summed, so the tree stays as short as the pipeline.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


def _span_id(span: Any) -> int:
    return span.context.span_id


def _parent_id(span: Any) -> int | None:
    return span.parent.span_id if span.parent is not None else None


_SHOWN_KINDS = frozenset({"AGENT", "TOOL"})


def _shown(span: Any, stage_names: frozenset[str]) -> bool:
    attributes = span.attributes or {}
    return span.name in stage_names or (
        attributes.get("openinference.span.kind") in _SHOWN_KINDS and not span.name.endswith(".__call__")
    )


def render_tree(spans: Sequence[Any], stage_names: Iterable[str]) -> str:
    """Render every trace in ``spans``; each line: name [iteration] duration, LLM calls, tokens, status."""
    stages = frozenset(stage_names)
    by_id = {_span_id(span): span for span in spans}
    children: dict[int | None, list[Any]] = defaultdict(list)
    llm: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # shown span → calls, input, output

    def shown_ancestor(span: Any) -> int | None:
        parent = _parent_id(span)
        while parent is not None and parent in by_id and not _shown(by_id[parent], stages):
            parent = _parent_id(by_id[parent])
        return parent if parent in by_id else None

    for span in spans:
        attributes = span.attributes or {}
        if attributes.get("openinference.span.kind") == "LLM":
            owner = shown_ancestor(span)
            if owner is not None:
                totals = llm[owner]
                totals[0] += 1
                totals[1] += int(attributes.get("gen_ai.usage.input_tokens", 0) or 0)
                totals[2] += int(attributes.get("gen_ai.usage.output_tokens", 0) or 0)
        if _shown(span, stages):
            children[shown_ancestor(span)].append(span)

    lines: list[str] = []

    def describe(span: Any) -> str:
        attributes = span.attributes or {}
        parts = [span.name]
        if "agentcreator.iteration" in attributes:
            parts.append(f"#{attributes['agentcreator.iteration']}")
        duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        parts.append(f"{duration_ms:,.0f} ms")
        calls, tokens_in, tokens_out = llm.get(_span_id(span), (0, 0, 0))
        if "agentcreator.usage.total_tokens" in attributes:
            calls = attributes.get("agentcreator.usage.llm_calls", calls)
            tokens_in = attributes.get("agentcreator.usage.input_tokens", 0)
            tokens_out = attributes.get("agentcreator.usage.output_tokens", 0)
        if calls:
            parts.append(f"{calls} LLM call{'s' if calls != 1 else ''}, {tokens_in}+{tokens_out} tokens")
        if isinstance(cost := attributes.get("agentcreator.usage.cost_usd"), float):
            parts.append(f"${cost:.6f}")
        if getattr(span.status, "status_code", None) is not None and span.status.status_code.name == "ERROR":
            parts.append("ERROR")
        return "  ".join(parts)

    def walk(parent: int | None, prefix: str) -> None:
        ordered = sorted(children.get(parent, []), key=lambda s: s.start_time or 0)
        for index, span in enumerate(ordered):
            last = index == len(ordered) - 1
            if parent is None:
                lines.append(describe(span))
                walk(_span_id(span), "")
            else:
                lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(span)}")
                walk(_span_id(span), prefix + ("    " if last else "│   "))

    walk(None, "")
    return "\n".join(lines)
