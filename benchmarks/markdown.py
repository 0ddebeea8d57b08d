"""The markdown table of every benchmark report: one writer, one format."""
from __future__ import annotations

from typing import Iterable, Sequence


def table_row(cells: Sequence[object]) -> str:
    """One line of a table: ``| a | b |``; an empty cell is written ``| |``.

    Example:
        >>> table_row([64, '78.75', ''])
        '| 64 | 78.75 | |'
    """
    return '|' + '|'.join(f' {cell} ' if str(cell) else ' ' for cell in cells) + '|'


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a markdown table: the header, the ``|---|`` rule and one line per row.

    Raises:
        ValueError: a row with another number of cells than the header (naming the row).

    Example:
        >>> markdown_table(['size', 'top-1 (%)'], [[64, '78.75'], [32, '-']])
        ['| size | top-1 (%) |', '|---|---|', '| 64 | 78.75 |', '| 32 | - |']
    """
    lines = [table_row(header), '|' + '---|' * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f'a table row of {len(row)} cells under a header of {len(header)}: {list(row)}')
        lines.append(table_row(row))
    return lines
