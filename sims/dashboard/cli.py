"""`optsim dashboard [--port 8765] [--host 127.0.0.1]`: the live dashboard (sims.dashboard.app).

Runs solara's server on the dashboard page until Ctrl-C. The page starts a simulation on
its own anvil when it opens; the chain stops when a new run replaces it and when the
server stops.
"""

from __future__ import annotations

import argparse
import sys


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port: {text!r} is not an integer") from None
    if not 1 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"--port: {port} outside allowed range [1, 65535]")
    return port


def add_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `dashboard` on optsim's subcommands."""
    parser = subparsers.add_parser(
        "dashboard", help="a live dashboard of a simulation in the browser (Mesa SolaraViz)"
    )
    parser.add_argument("--port", type=_port, default=8765, help="default 8765")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: local only)"
    )
    return parser


def main(args: argparse.Namespace) -> int:
    from sims.dashboard.app import serve

    print(
        f"optsim dashboard: http://{args.host}:{args.port}/ (Ctrl-C stops it and its chain)",
        file=sys.stderr,
    )
    return serve(args.port, args.host)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(prog="optsim")
    add_command(cli.add_subparsers(dest="command", required=True))
    sys.exit(main(cli.parse_args()))
