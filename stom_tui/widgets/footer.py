"""The key bar, without the leak of Textual's :class:`~textual.widgets.Footer`.

The footer rebuilds its keys whenever the active bindings change (every focus change: each view
key, each modal), and each new key binds its ``compact`` to the footer's. Textual drops a closed
widget's watcher only when the watched value changes, which ``compact`` never does, so every key
ever shown stayed alive through that list, with its styles and message queue: about nine widgets
per key press, the console's memory growing for as long as it was used (issue 12, finding 9).
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyFooter(Footer):
    """:class:`Footer` that forgets its removed keys."""

    async def recompose(self) -> None:
        await super().recompose()
        self.forget_removed_keys()

    def forget_removed_keys(self) -> None:
        """Drop the ``compact`` watchers of keys that have been removed."""
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [
                (node, callback)
                for node, callback in watchers
                if not (node._closing or node._closed)
            ]
