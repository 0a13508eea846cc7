"""`agentcreator serve`: the command line of the HTTP runtime (``agentcreator.runtime.server``)."""

from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks one)")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="log level (default info)"
    )
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        metavar="N",
        help="server processes behind the one port (default AGENTCREATOR_WORKERS, else 1)",
    )
    # Internal: a worker started by the supervisor serves the listening socket it inherited.
    parser.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    # Internal: the supervisor's pid, so a worker that starts after its death still sees it gone.
    parser.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)


def _worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    from agentcreator.runtime.server import run as serve

    return serve(args)
