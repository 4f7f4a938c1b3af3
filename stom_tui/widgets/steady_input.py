"""The console's text field: an ``Input`` whose cursor does not blink."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Input


class SteadyInput(Input):
    """An ``Input`` with a steady cursor.

    Over SSH each blink is a repaint sent down the link twice a second for as long as a field has
    focus, and a blinking cursor makes what a screenshot shows depend on when it was taken.
    """

    cursor_blink = reactive(False, init=False)
