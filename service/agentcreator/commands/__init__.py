"""The `agentcreator` subcommands, one module each: ``configure_parser(parser)`` and ``run(args) -> int``.

Only ``agentcreator.cli`` imports these; what a command shares with the runtime image or with
``infra/`` lives in the library packages below them (``collector``, ``config``, ``telemetry``, ...).
"""
