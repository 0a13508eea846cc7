"""The `agentcreator` command: run, serve, doctor, demo, collector check, secrets set-langfuse, canary.

Each subcommand lives in its own module exposing ``configure_parser(parser)`` and
``run(args) -> int``; this file only wires them, so start-up imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from agentcreator import __version__
from agentcreator.tools._confine import make_undumpable

# (command path, module, help). A two-word path is a nested subcommand.
_COMMANDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("run",), "agentcreator.commands.run", "turn an SOP and a voice description into an agent, traced"),
    (("serve",), "agentcreator.commands.serve", "serve /invocations and /ping over HTTP"),
    (("doctor",), "agentcreator.commands.doctor", "check the telemetry set-up against the current environment"),
    (("demo",), "agentcreator.commands.demo", "run the offline pipeline into a local Phoenix and show the trace"),
    (("collector", "check"), "agentcreator.commands.collector_check", "validate an ADOT collector configuration"),
    (("secrets", "set-langfuse"), "agentcreator.commands.secrets", "store the Langfuse OTLP header"),
    (("canary", "send"), "agentcreator.commands.canary_send", "send one canary trace through this machine's exporter"),
    (("canary", "check"), "agentcreator.commands.canary_check", "say whether a canary reached each backend, and when"),
)


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one readable line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(prog="agentcreator", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"agentcreator {__version__}")
    top = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrorParser)
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, module_name, help_text in _COMMANDS:
        where = top
        if len(path) == 2:
            if path[0] not in groups:
                group_parser = top.add_parser(path[0], help=f"{path[0]} commands")
                groups[path[0]] = group_parser.add_subparsers(
                    dest="subcommand", required=True, parser_class=_OneLineErrorParser
                )
            where = groups[path[0]]
        module = importlib.import_module(module_name)
        sub = where.add_parser(path[-1], help=help_text, description=help_text)
        module.configure_parser(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before anything else: no process of ours may read this one's environment (it holds the
    # task's credentials endpoint) through /proc, generated code above all (tools/_confine.py).
    make_undumpable()
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("agentcreator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
