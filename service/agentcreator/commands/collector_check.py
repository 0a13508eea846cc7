"""`agentcreator collector check [PATH]`: validate an ADOT collector config, as the tests and infra synth do.

agentcreator collector check                       # the shipped collector/otel-config.yaml
agentcreator collector check --no-langfuse --xray-mode otlp   # one rendered variant
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from agentcreator.collector import CONFIG_PATH, XRAY_MODES, render_config, validate_config


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", type=Path, default=CONFIG_PATH, help="collector config (default: %(default)s)"
    )
    parser.add_argument(
        "--langfuse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="validate the rendered variant with Langfuse export on or off instead of the file as written",
    )
    parser.add_argument(
        "--xray-mode", choices=XRAY_MODES, default=None, help="validate the rendered variant with this X-Ray mode"
    )


def run(args: argparse.Namespace) -> int:
    """0 and `ok: PATH` when valid; 1 and one line per problem on stderr; 2 when the file cannot be read."""
    path = Path(args.path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 2
    variant = args.langfuse is not None or args.xray_mode is not None
    if variant:
        try:
            text = render_config(
                langfuse_enabled=args.langfuse is not False,
                xray_mode=args.xray_mode or XRAY_MODES[0],
                path=path,
            )
        except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError) as error:
            print(f"{path}: cannot render: {' '.join(str(error).split())}", file=sys.stderr)
            return 1
    problems = validate_config(text)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {path}")
    return 0
