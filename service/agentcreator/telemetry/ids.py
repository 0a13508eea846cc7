"""Span and trace ids without a system call per span."""

from __future__ import annotations

import os
import random

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

_rng = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(32)))  # no two processes share ids


class ProcessRandomIdGenerator(RandomIdGenerator):
    """Span and trace ids from a private PRNG seeded by the OS, reseeded after ``fork``.

    openinference swaps the SDK's default generator for ``secrets.randbits``: a ``getrandom``
    system call per span that releases the GIL, so with the export thread busy a span start
    can wait out a GIL switch interval. A private ``random.Random`` makes no call and, unlike
    the SDK default, is not reset by an application's ``random.seed``.
    """

    def generate_span_id(self) -> int:
        span_id = _rng.getrandbits(64)
        while span_id == 0:
            span_id = _rng.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = _rng.getrandbits(128)
        while trace_id == 0:
            trace_id = _rng.getrandbits(128)
        return trace_id
