"""Progress of a render job in the terminal: one bar for the whole job (videos done, frames
per second over every worker, time left) and one bar for each video being rendered.

Safe to call from several threads.
"""

from __future__ import annotations

import threading

from tqdm import tqdm


class JobProgress:
    """Bars for ``videos`` videos; nothing is shown unless ``enabled``."""

    def __init__(self, videos: int, enabled: bool) -> None:
        self.videos = videos
        self.enabled = enabled
        self._lock = threading.Lock()
        self._ended = 0
        self._estimates: list[int] = []
        self._bars: dict[object, tqdm] = {}
        self._overall = tqdm(
            total=None,
            unit="frame",
            desc=self._overall_text(),
            disable=not enabled or videos < 2,
            position=0,
            dynamic_ncols=True,
        )

    def _overall_text(self) -> str:
        return f"videos {self._ended}/{self.videos}"

    def begin(self, key: object, name: str, frames: int | None, saved: int) -> None:
        """A video starts (``saved`` frames of it were done by an earlier run)."""
        with self._lock:
            if frames is not None:
                self._estimates.append(frames)
                self._update_total(saved)
            self._bars[key] = tqdm(
                total=frames,
                initial=saved,
                unit="frame",
                desc=name,
                disable=not self.enabled,
                position=len(self._bars) + (1 if self.videos > 1 else 0),
                leave=self.videos < 2,
                dynamic_ncols=True,
            )

    def _update_total(self, saved: int) -> None:
        """The whole job's frames: those known, and the average for videos not begun."""
        known = sum(self._estimates)
        unknown = max(0, self.videos - self._ended - len(self._bars) - 1)
        self._overall.total = known + unknown * known // len(self._estimates)
        self._overall.update(saved)
        self._overall.refresh()

    def advance(self, key: object, frames: int) -> None:
        """``frames`` more frames of a video are done."""
        with self._lock:
            self._bars[key].update(frames)
            self._overall.update(frames)

    def note(self, key: object, text: str) -> None:
        """Show ``text`` (where the video runs, a retry) beside its bar."""
        with self._lock:
            self._bars[key].set_postfix_str(text, refresh=True)

    def end(self, key: object | None = None) -> None:
        """A video is done, skipped or failed."""
        with self._lock:
            self._ended += 1
            bar = self._bars.pop(key, None)
            if bar is not None:
                bar.close()
            self._overall.set_description_str(self._overall_text(), refresh=True)

    def close(self) -> None:
        """Take the bars off the terminal; safe to call twice."""
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            self._overall.close()
