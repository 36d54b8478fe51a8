"""Downloads of a table (统计报表): CSV and a one-sheet .xlsx workbook, for every report the
platform offers (application statistics, performance scores)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The rows under a header as CSV (UTF-8 with a byte-order mark, so spreadsheet programs
    read Chinese); an empty cell for None."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for values in rows:
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(columns: Sequence[str], rows: Iterable[Sequence[Any]], sheet_name: str,
            percent: Iterable[str] = (), widths: Sequence[tuple[int, int, int]] = ()) -> bytes:
    """The rows as an .xlsx workbook: one sheet, the header on the first row (frozen), numbers
    as numbers, the `percent` columns shown as percentages; `widths` as (first, last, width)."""
    import xlsxwriter  # only a download needs it (cold starts)

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet(sheet_name)
    bold = workbook.add_format({"bold": True})
    as_percent = workbook.add_format({"num_format": "0.0%"})
    percent = set(percent)
    sheet.write_row(0, 0, list(columns), bold)
    for number, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if value is None:
                continue
            sheet.write(number, column, value,
                        as_percent if columns[column] in percent else None)
    sheet.freeze_panes(1, 0)
    for first, last, width in widths:
        sheet.set_column(first, last, width)
    workbook.close()
    return buffer.getvalue()
