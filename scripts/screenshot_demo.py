"""Take the README's screenshot: the demo's trace in Phoenix's UI, captured by headless Chromium.

Starts Phoenix on 127.0.0.1 exactly as ``agentcreator demo`` does, runs the same offline
invocation into it, then points Chromium at the trace's page and writes a PNG.

    make screenshot                       # installs Debian's chromium if missing, writes docs/phoenix-trace.png
    python scripts/screenshot_demo.py --output docs/phoenix-trace.png --chromium /usr/bin/chromium
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Flags that keep Chromium offline, quiet and reproducible in a container.
_CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--force-device-scale-factor=1", "--force-prefers-reduced-motion",
)


def _chromium(explicit: str | None) -> str:
    for candidate in (explicit, "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    sys.exit("screenshot: no chromium found (Debian: apt-get install -y chromium; or pass --chromium PATH)")


def capture(url: str, output: Path, chromium: str, *, width: int, height: int, budget_ms: int) -> None:
    """One headless page load; virtual time lets the single-page app fetch and render before the shot."""
    with tempfile.TemporaryDirectory(prefix="agentcreator-chromium-") as profile:
        command = [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--virtual-time-budget={budget_ms}", f"--screenshot={output}", url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not output.exists():
        sys.exit(f"screenshot: chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "phoenix-trace.png")
    parser.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--budget-ms", type=int, default=20000, help="virtual time for the page to render")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    chromium = _chromium(args.chromium)

    from agentcreator.commands.demo import DEMO_LM, demo_settings, run_pipeline
    from agentcreator.config import SERVICE_NAME
    from agentcreator.phoenix_server import PhoenixServer
    from agentcreator.pipeline import InvocationRequest

    request = InvocationRequest(
        agent_id="demo-agent", user_id="demo-user", lm=DEMO_LM,
        sop=(REPO / "examples" / "sops" / "refund-request.md").read_text(),
        voice_personality=(REPO / "examples" / "voices" / "warm-concierge.md").read_text(),
    )
    with tempfile.TemporaryDirectory(prefix="agentcreator-phoenix-") as data, PhoenixServer(Path(data)) as phoenix:
        print(f"screenshot: Phoenix ready at {phoenix.url} in {phoenix.started_after_s:.1f} s", file=sys.stderr)
        run = run_pipeline(demo_settings(phoenix.url), request, io.StringIO())
        if run.error is not None or run.trace_id is None:
            sys.exit(f"screenshot: the pipeline failed: {run.error}")
        stored = phoenix.wait_for_spans(SERVICE_NAME, run.trace_id, len(run.spans))
        if len(stored) != len(run.spans):
            sys.exit(f"screenshot: Phoenix has {len(stored)} of {len(run.spans)} spans")
        url = phoenix.trace_url(SERVICE_NAME, run.trace_id)
        print(f"screenshot: capturing {url}", file=sys.stderr)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        capture(url, args.output, chromium, width=args.width, height=args.height, budget_ms=args.budget_ms)
    print(f"screenshot: wrote {args.output} ({args.output.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
