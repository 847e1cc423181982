"""Rich table columns for the command line. Ids are copied from CLI output into the next command, so
an id column is never cut short (Rich's default ellipsis turns `prt_1m8kz7nd6jk2ttmkty9r6` into
`prt_1m8…` on an 80-column terminal); the other columns give up their width instead."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Column


def id_column(header: str, values: Iterable[str]) -> Column:
    """A column as wide as its longest value, never wrapped or ellipsized."""
    width = max([len(header), *(len(v) for v in values)])
    return Column(header, no_wrap=True, min_width=width, overflow="fold")
