"""A daemon thread that notices when a store changed, for views that must stay current."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ChangeWatcher:
    """Calls ``on_change`` whenever ``token()`` returns something new, polled every
    ``interval`` seconds. A failing ``token()`` counts as a change (the callback, which
    reads the store too, then shows the error); it never stops the thread.
    """

    def __init__(
        self,
        token: Callable[[], object],
        on_change: Callable[[], None],
        *,
        interval: float = 1.0,
        name: str = "zingy-nb-watch",
    ) -> None:
        self.token = token
        self.on_change = on_change
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        """Start polling (idempotent)."""
        if not self.alive:
            self._stop.clear()
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        self.thread = None

    def _run(self) -> None:
        last: object = None
        while not self._stop.wait(self.interval):
            try:
                token = self.token()
            except Exception as exc:
                token = f"error: {type(exc).__name__}"
            if token != last:
                last = token
                self.on_change()
