"""The overhead benchmark's inputs are the workload its figures describe: built from the example
SOPs and voices, big enough, and never silently empty."""

from __future__ import annotations

import re

import pytest
from benchmarks import common


def test_every_sop_step_is_long_and_the_voice_is_8_kb() -> None:
    sop = common.bench_sop(min_step_chars=700)
    steps = [line for line in sop.splitlines() if re.match(r"\d+[.)]\s", line)]
    assert len(steps) >= 8
    assert all(len(step) >= 700 for step in steps)
    assert len(common.bench_voice().encode()) >= 8 * 1024


@pytest.mark.parametrize("build", [common.bench_sop, common.bench_voice])
def test_missing_examples_are_an_error_not_an_empty_input(build, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(common, "EXAMPLES", tmp_path / "examples")
    with pytest.raises(FileNotFoundError, match="no example .* the benchmarks' inputs are built from them"):
        build()


def test_compare_takes_known_variants_and_checkouts_only(tmp_path) -> None:  # noqa: ANN001
    import argparse

    from benchmarks import overhead

    assert set(overhead.VARIANTS) <= set(overhead.WORKER_VARIANTS)
    assert overhead._spec("full-nometrics") == "full-nometrics"
    assert overhead._spec(f"full@{common.ROOT}") == f"full@{common.ROOT}"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown variant 'full-typo'"):
        overhead._spec("full-typo")  # once read as "full", silently
    with pytest.raises(argparse.ArgumentTypeError, match="not a checkout of this project"):
        overhead._spec(f"full@{tmp_path}")
