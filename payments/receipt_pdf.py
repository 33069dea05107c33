"""The printable receipt: one Letter page drawn by fpdf2 from a Receipt's lines.

fpdf2's built-in Helvetica needs no font file in the image but covers Latin-1 only, so
typographic punctuation is folded to its ASCII look-alike and anything else outside
Latin-1 (an emoji in a refund's reason) is printed as "?" rather than failing the receipt.
"""

from django.utils import timezone
from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos

from payments.selectors import Receipt
from reservations.emails import format_local_time

ISSUER = "Secure My Spot"
FONT = "helvetica"
LABEL_WIDTH, VALUE_WIDTH = 50, 125  # millimetres: within the 175.9 between Letter's margins
TYPOGRAPHY = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)
EMPHASISED = frozenset({"Amount", "Refunded"})
GREY = (90, 90, 90)


def _latin1(text: str) -> str:
    return text.translate(TYPOGRAPHY).encode("latin-1", "replace").decode("latin-1")


def receipt_pdf_render(*, receipt: Receipt) -> bytes:
    pdf = FPDF(format="letter", unit="mm")
    pdf.set_margins(20, 20, 20)
    pdf.set_title(_latin1(f"Parking receipt {receipt.reservation_id}"))
    pdf.set_author(ISSUER)
    pdf.set_creator(ISSUER)
    pdf.add_page()

    pdf.set_font(FONT, style="B", size=18)
    pdf.cell(h=9, text=ISSUER, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=14)
    pdf.cell(h=7, text="Parking receipt", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*GREY)
    issued = f"Issued {format_local_time(timezone.now())}"
    pdf.cell(h=6, text=issued, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.ln(6)

    pdf.set_font(FONT, size=11)
    with pdf.table(
        col_widths=(LABEL_WIDTH, VALUE_WIDTH),
        width=LABEL_WIDTH + VALUE_WIDTH,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        text_align=("LEFT", "LEFT"),
        line_height=7,
        padding=(1, 2),
    ) as table:
        for label, value in receipt.lines:
            style = FontFace(emphasis="BOLD") if label in EMPHASISED else None
            row = table.row(style=style)
            row.cell(_latin1(label), style=FontFace(emphasis="BOLD"))
            row.cell(_latin1(value))

    pdf.ln(6)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(
        w=0,
        text="Times are New York time; amounts are in US dollars. "
        "Billed time counts each started minute of the stay's metered time (the meter's "
        "posted hours); time outside them is free.",
    )
    return bytes(pdf.output())
