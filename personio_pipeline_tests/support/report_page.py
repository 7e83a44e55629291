"""Reads a verification report back with the standard library's HTML parser, as tests need it:
the tables of each section (rows of stripped cell texts, with their header), the manager tree (who
sits at which depth), every tag with its attributes, and the style sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Table:
    section: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]


class ReportPage(HTMLParser):
    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[Table] = []
        self.tree: list[tuple[str, int]] = []  # (employee id, depth: 1 = top manager)
        self.style = ""
        self.text: list[str] = []
        self._section = ""
        self._row: list[str] | None = None
        self._in_header = False
        self._in_style = False
        self._tree_depth = 0  # <ul> depth inside ul.tree, 0 outside it
        self.feed(page)
        self.close()
        for table in self.tables:  # cells end where the next one starts (HTML lets end tags out)
            table.header = [cell.strip() for cell in table.header]
            table.rows = [[cell.strip() for cell in row] for row in table.rows]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "section":
            self._section = attributes.get("id") or ""
        elif tag == "table":
            self.tables.append(Table(self._section))
        elif tag == "thead":
            self._in_header = True
        elif tag == "tbody":
            self._in_header = False
        elif tag == "tr" and self.tables:
            self._row = []
            if self._in_header:
                self.tables[-1].header = self._row
            else:
                self.tables[-1].rows.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
        elif tag == "style":
            self._in_style = True
        elif tag == "ul" and (self._tree_depth or attributes.get("class") == "tree"):
            self._tree_depth += 1
        elif tag == "li" and self._tree_depth and "data-id" in attributes:
            self.tree.append((attributes["data-id"], self._tree_depth))

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = ""
        elif tag == "style":
            self._in_style = False
        elif tag == "ul" and self._tree_depth:
            self._tree_depth -= 1
        elif tag == "table":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in_style:
            self.style += data
        elif self._row:
            self._row[-1] += data

    def table(self, section: str, first_column_header: str, containing: str) -> Table:
        """The section's table whose header has `containing` (its first column `first_column_header`)."""
        (found,) = [t for t in self.tables if t.section == section and t.header and t.header[0] == first_column_header
                    and containing in t.header]
        return found

    def rows(self, section: str, first_column_header: str, containing: str) -> list[list[str]]:
        """Rows of all the section's tables whose header has `containing` (first column as given)."""
        return [row for t in self.tables if t.section == section and t.header and t.header[0] == first_column_header
                and containing in t.header for row in t.rows]

    @property
    def all_text(self) -> str:
        return "".join(self.text)
