"""The `nas` command line: a thin layer that builds typed configs and calls the library.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which sets
``func`` on its parser via ``set_defaults``); `COMMANDS` lists those modules in help order.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from supernet.core import NASError, os_error_line, short

COMMANDS = [
    "nas.cli._demo",
    "nas.cli._train",
    "nas.cli._finetune",
    "nas.cli._latency",
    "nas.cli._predict",
    "nas.cli._search",
    "nas.cli._export",
    "nas.cli._import",
    "nas.cli._space",
    "nas.cli._show",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ofa-nas")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Hardware-aware NAS with once-for-all supernets: train one "
        "supernet, build latency tables per device, search, export subnets to ONNX.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    _with_defaults(parser)
    return parser


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that states each option's default where it has one and does not say it already."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and default not in (None, False, [], argparse.SUPPRESS)
                and "default" not in text.lower()):
            text += " (default: %(default)s)"
        return text


def _with_defaults(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _DefaultsFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_defaults(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "latency_command", None))))
    quiet_rank = os.environ.get("RANK", "0") != "0"  # under torchrun only rank 0 logs (warnings: all)
    level = logging.DEBUG if args.verbose else logging.WARNING if quiet_rank else logging.INFO
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return int(args.func(args) or 0)
    except NASError as err:
        if args.verbose:
            raise
        print(f"nas {command}: error: {' '.join(str(err).split())}", file=sys.stderr)  # one line
        return 2
    except BrokenPipeError:  # the reader went away (`nas show X | head`): stop quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 141
    except OSError as err:  # the system refused a file operation: a known cause, named with its path
        if args.verbose:
            raise
        print(f"nas {command}: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {command}: interrupted; finished steps are kept (train, collect, search, "
              "latency build and run continue when rerun)", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, or a failure we did not foresee: one line, no traceback
        if args.verbose:
            raise
        print(f"nas {command}: error: {type(err).__name__}: {short(str(err), 300)} (unexpected; "
              "rerun with --verbose for the traceback, and please report it)", file=sys.stderr)
        return 1

