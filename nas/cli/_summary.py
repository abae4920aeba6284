"""What a command prints: a short aligned summary a person reads in two seconds, or with
``--json`` the full machine-readable record (the files a command writes keep it too).

    show(args, record, Summary("search: best subnet").fact("arch", str(arch)).table(cols, rows))
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Sequence
from typing import Any

from supernet.core import json_text

__all__ = ["Summary", "add_json_flag", "deprecated_option", "number", "show"]

_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+( ?[%a-zA-Z]+)?$|^-$")  # right-aligned in tables


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the full machine-readable summary (JSON) instead of the short one")


class _Deprecated(argparse.Action):
    def __init__(self, *args, instead: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.instead = instead

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.instead}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_option(parser, old: str, instead: str, *, dest: str) -> None:
    """``old`` keeps working for one release as a hidden spelling of ``instead``, with a warning."""
    parser.add_argument(old, dest=dest, action=_Deprecated, instead=instead, help=argparse.SUPPRESS)


def number(value: Any, digits: int = 2, unit: str = "") -> str:
    """``value`` for a person: ``-`` when missing, thousands separated, ``digits`` decimals."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 10_000 else f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


class Summary:
    """A titled block of ``name: value`` facts and small tables, rendered with rich."""

    def __init__(self, title: str) -> None:
        self.title, self.parts = title, []

    def fact(self, name: str, value: Any) -> Summary:
        self.parts.append(("fact", name, value))
        return self

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              title: str | None = None) -> Summary:
        self.parts.append(("table", title, (list(columns), [[str(c) for c in r] for r in rows])))
        return self

    def render(self, console) -> None:
        from rich.table import Table
        from rich.text import Text  # plain text: an arch string's [..] is not markup

        console.print(Text(self.title, style="bold"), highlight=False)
        facts = [(n, v) for kind, n, v in self.parts if kind == "fact"]
        if facts:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="dim")
            grid.add_column()
            for name, value in facts:
                grid.add_row(Text(name), Text(str(value)))
            console.print(grid, highlight=False)
        for kind, title, value in self.parts:
            if kind != "table":
                continue
            columns, rows = value
            table = Table(title=title and Text(title), title_justify="left", box=None, pad_edge=False,
                          header_style="bold")
            for i, column in enumerate(columns):
                numeric = all(_NUMBER.match(r[i]) for r in rows) and rows
                table.add_column(Text(column), justify="right" if numeric else "left", overflow="fold")
            for row in rows:
                table.add_row(*map(Text, row))
            console.print(table, highlight=False)


def show(args, record: dict, summary: Summary) -> None:
    """``record`` as JSON with ``--json``, else ``summary`` for a person (colour on a
    terminal, long cells folded to its width; a log gets plain text, never wrapped)."""
    if getattr(args, "json", False):
        print(json_text(record, default=str))
        return
    from rich.console import Console

    terminal = sys.stdout.isatty()
    if terminal:
        summary.render(Console(file=sys.stdout, force_terminal=True, soft_wrap=False))
        return
    text = io.StringIO()  # a log: plain lines, no padding to the widest cell
    summary.render(Console(file=text, width=1000, no_color=True, force_terminal=False, soft_wrap=False))
    sys.stdout.write("".join(line.rstrip() + "\n" for line in text.getvalue().splitlines()))
