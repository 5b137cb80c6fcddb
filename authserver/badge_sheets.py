"""A class's sign-in badges as a PDF to print on A4 and cut out: per badge the pupil's name,
their class, a QR code of the badge's link, and what to do if it is lost.

fpdf2 writes the PDF (pure Python, embeds a subset of a Unicode TrueType font so every name
prints as the MIS spells it); segno makes the QR code, drawn as vector squares so it stays
sharp on any printer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"

# A4 portrait in millimetres; two columns of three badges, each cut along a dashed line.
PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0
MARGIN = 10.0
COLUMNS, ROWS = 2, 3
BADGES_PER_PAGE = COLUMNS * ROWS
CELL_WIDTH = (PAGE_WIDTH - 2 * MARGIN) / COLUMNS
CELL_HEIGHT = (PAGE_HEIGHT - 2 * MARGIN) / ROWS
PADDING = 5.0
# 50 mm across: a classroom webcam reads it from a pupil's arm's length.
QR_SIZE = 50.0
# Four modules of white around the code, as ISO/IEC 18004 asks.
QR_QUIET_MODULES = 4

HOW_TO_USE = "Hold this badge up to the camera to sign in."
IF_LOST = "Lost it? Tell your teacher. They can make you a new badge, and this one stops working."


@dataclass(frozen=True)
class PrintedBadge:
    """What one badge shows: whose it is, their class, and the link its QR code holds."""

    name: str
    class_name: str
    link: str


def render(badges: Sequence[PrintedBadge], *, school_name: str, title: str) -> bytes:
    """The badges as a PDF, BADGES_PER_PAGE to a page of A4."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(MARGIN, MARGIN)
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_title(title)
    pdf.set_creator("School Data Access")
    pdf.set_lang("en-GB")
    for index, badge in enumerate(badges):
        slot = index % BADGES_PER_PAGE
        if slot == 0:
            pdf.add_page()
        x = MARGIN + (slot % COLUMNS) * CELL_WIDTH
        y = MARGIN + (slot // COLUMNS) * CELL_HEIGHT
        _draw_badge(pdf, badge, school_name, x, y)
    return bytes(pdf.output())


def _draw_badge(pdf: FPDF, badge: PrintedBadge, school_name: str, x: float, y: float) -> None:
    pdf.set_draw_color(150)
    pdf.set_line_width(0.3)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=2, gap=2)
        pdf.rect(x, y, CELL_WIDTH, CELL_HEIGHT)
    inner = CELL_WIDTH - 2 * PADDING
    pdf.set_text_color(0)
    _draw_name(pdf, badge.name, x + PADDING, y + PADDING, inner)
    pdf.set_font("DejaVu", size=11)
    pdf.set_xy(x + PADDING, y + PADDING + 9)
    pdf.cell(inner, 6, _fitted(pdf, f"{badge.class_name} · {school_name}", inner), align="C")
    qr_top = y + PADDING + 17
    _draw_qr(pdf, badge.link, x + (CELL_WIDTH - QR_SIZE) / 2, qr_top, QR_SIZE)
    pdf.set_font("DejaVu", size=9)
    pdf.set_xy(x + PADDING, qr_top + QR_SIZE + 2)
    pdf.multi_cell(inner, 4.5, f"{HOW_TO_USE}\n{IF_LOST}", align="C")


def _draw_name(pdf: FPDF, name: str, x: float, y: float, width: float) -> None:
    """The name on one line, smaller if long; a very long one on two lines, never cut."""
    pdf.set_xy(x, y)
    if _set_fitting_size(pdf, name, width, largest=18, smallest=12):
        pdf.cell(width, 9, name, align="C")
    else:
        pdf.set_font("DejaVu", size=10)
        pdf.multi_cell(width, 4.5, name, align="C")


def _set_fitting_size(pdf: FPDF, text: str, width: float, *, largest: int, smallest: int) -> bool:
    """Set the largest font size at which `text` fits on one line; False if none does."""
    for size in range(largest, smallest - 1, -1):
        pdf.set_font("DejaVu", size=size)
        if pdf.get_string_width(text) <= width:
            return True
    return False


def _fitted(pdf: FPDF, text: str, width: float) -> str:
    """`text` cut with an ellipsis to fit one line at the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _draw_qr(pdf: FPDF, link: str, x: float, y: float, size: float) -> None:
    """The QR code of `link` as filled squares, one rectangle per run of dark modules."""
    code = segno.make_qr(link, error="m")
    rows = [list(row) for row in code.matrix_iter(scale=1, border=QR_QUIET_MODULES)]
    module = size / len(rows)
    pdf.set_fill_color(255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            # A hair wider than the run, so no white seam shows between neighbouring runs.
            pdf.rect(
                x + start * module,
                y + r * module,
                (c - start) * module + 0.02,
                module + 0.02,
                style="F",
            )
