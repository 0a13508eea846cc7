"""CDK app: one AgentCreator stack per environment in cdk.json's `agentcreator:environments`.

    make synth                                  # all environments into cdk.out/
    npx aws-cdk deploy AgentCreator-prod        # the CDK CLI runs this file through uv
    npx aws-cdk deploy -c env=prod --all        # build only the named environment

This is the only place that reads context; stacks receive parsed settings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))

from agentcreator_infra.node import NodeMissing, select_node  # noqa: E402

try:
    select_node()  # before aws_cdk's import starts jsii's node
except NodeMissing as missing:
    print(f"infra: {missing}", file=sys.stderr)
    sys.exit(2)

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from agentcreator_infra.settings import Settings, SettingsError, parse_settings  # noqa: E402
from agentcreator_infra.stack import AgentCreatorStack  # noqa: E402

ENVIRONMENTS_KEY = "agentcreator:environments"


def _cdk_json_context() -> dict:
    """cdk.json's context, for runs without the CDK CLI (`make synth`, tests)."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def environments(app: cdk.App) -> list[Settings]:
    raw = app.node.try_get_context(ENVIRONMENTS_KEY)
    if not isinstance(raw, dict) or not raw:
        raise SettingsError(f"context `{ENVIRONMENTS_KEY}` must map environment names to settings")
    only = app.node.try_get_context("env")
    if only is not None and only not in raw:
        raise SettingsError(f"-c env={only}: no such environment; known: {sorted(raw)}")
    return [parse_settings(name, value) for name, value in raw.items() if only in (None, name)]


def build_app(context: dict | None = None, outdir: str | None = None, *, nag: bool = True) -> cdk.App:
    """The app with one stack per environment; `context` overrides cdk.json (tests use it)."""
    app = cdk.App(context={**_cdk_json_context(), **(context or {})}, outdir=outdir)
    chosen = environments(app)
    for settings in chosen:  # context can only be set before the first stack is added
        if settings.account and settings.availability_zones:
            key = f"availability-zones:account={settings.account}:region={settings.region}"
            app.node.set_context(key, list(settings.availability_zones))
    for settings in chosen:
        env = None
        if settings.account:
            env = cdk.Environment(account=settings.account, region=settings.region)
        elif settings.region:
            env = cdk.Environment(region=settings.region)
        AgentCreatorStack(app, settings.stack_name, settings=settings, build_context=ROOT, env=env)
    if nag:
        # Findings fail synth unless acknowledged (agentcreator_infra/nag_acknowledgements.py).
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> int:
    try:
        app = build_app(outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"))
    except SettingsError as bad:
        print(f"infra: {bad}", file=sys.stderr)
        return 2
    assembly = app.synth()
    if not os.environ.get("CDK_OUTDIR"):  # run by hand or by `make synth`, not by the CDK CLI
        names = ", ".join(sorted(Path(stack.template_full_path).name for stack in assembly.stacks))
        where = Path(assembly.directory)
        if where.is_relative_to(Path.cwd()):
            where = where.relative_to(Path.cwd())
        print(f"infra: wrote {names} to {where}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
