"""`TopTable`: ``tether top``'s jobs and GPU processes, one row each, sorted as
the person asked, the selection kept on its job or pid across samples.

A new sample whose rows come in the same order only rewrites the cells; any
other change rebuilds the rows and puts the cursor back on the selected key
(or, when that row has gone, on the same line), as htop and nvitop do.
"""

from __future__ import annotations

from typing import List, Optional

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from tui.app.top_rows import COLUMNS, TopRow, header, ordered


class TopTable(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.sort_column = 0
        self.descending = False
        self._rows: List[TopRow] = []
        self._shown: List[TopRow] = []

    def on_mount(self) -> None:
        self._draw(columns=True)

    @property
    def selected(self) -> Optional[TopRow]:
        """The row under the cursor, None when the table is empty."""
        if not self._shown:
            return None
        return self._shown[min(max(self.cursor_row, 0), len(self._shown) - 1)]

    @property
    def shown(self) -> List[TopRow]:
        """The rows in the order on screen."""
        return list(self._shown)

    def show(self, rows: List[TopRow]) -> None:
        """Take a new sample's rows."""
        self._rows = rows
        self._draw()

    def sort_by(self, column: int, descending: bool) -> None:
        """Sort by `column` (an index of `COLUMNS`), the header saying which."""
        self.sort_column = column % len(COLUMNS)
        self.descending = descending
        self._draw(columns=True)

    def _draw(self, columns: bool = False) -> None:
        was = self.selected
        line = self.cursor_row
        rows = ordered(self._rows, self.sort_column, self.descending)
        columns = columns or not self.columns
        if not columns and [r.key for r in rows] == [r.key for r in self._shown]:
            self._update_cells(rows)
            return
        if columns:
            self.clear(columns=True)
            for index, label in enumerate(header(self.sort_column, self.descending)):
                self.add_column(self._cell(index, label), key=str(index))
        else:
            self.clear()
        self._shown = rows
        for row in rows:
            self.add_row(*self._cells(row), key=row.key)
        keys = [r.key for r in rows]
        if was is not None and was.key in keys:
            line = keys.index(was.key)
        if rows:
            self.move_cursor(row=min(line, len(rows) - 1), animate=False)

    def _update_cells(self, rows: List[TopRow]) -> None:
        for old, new in zip(self._shown, rows):
            if old.cells == new.cells:
                continue
            for index, (before, after) in enumerate(zip(old.cells, new.cells)):
                if before != after:
                    self.update_cell(
                        new.key, str(index), self._cell(index, after), update_width=True
                    )
        self._shown = rows

    def _cells(self, row: TopRow) -> List[Text]:
        return [self._cell(index, text) for index, text in enumerate(row.cells)]

    @staticmethod
    def _cell(index: int, text: str) -> Text:
        style = "bold red" if text.startswith("LEAKED") else ""
        if COLUMNS[index].right:
            return Text(text, style=style, justify="right")
        return Text(text, style=style)
