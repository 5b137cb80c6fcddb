"""What a table the resource API writes to carries: the writeback item that last wrote a row."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


class WrittenBack:
    """Mixin for the MIS tables vendors write to (see authserver/domain/writeback.py).

    `writeback_item_id` names the queue item that last created or changed the row: the
    application that wrote it (who alone may correct it) and whether the MIS has it yet. Rows
    the MIS sent leave it empty.
    """

    writeback_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("writeback_items.id"), index=True
    )
