"""A progress report on stderr: a live bar on a terminal, plain dated lines in a log file."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts items and shows items/s. On a TTY a tqdm bar; otherwise one line every
    ``every`` seconds (and at the end), without carriage returns, so a log stays readable."""

    def __init__(self, total: int, *, what: str = "images", stream: TextIO | None = None,
                 every: float = 30.0, enabled: bool = True) -> None:
        self.total, self.what, self.every = total, what, every
        self.stream = stream if stream is not None else sys.stderr
        self.count, self.start = 0, time.perf_counter()
        self.last = self.start
        self.bar = None
        self.enabled = enabled
        if enabled and self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit=what.rstrip("s") or what, file=self.stream,
                            leave=False, dynamic_ncols=True)

    @property
    def rate(self) -> float:
        return self.count / max(time.perf_counter() - self.start, 1e-9)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.perf_counter() - self.last >= self.every:
            self.last = time.perf_counter()
            self._line()

    def write(self, text: str) -> None:
        """A message that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _line(self) -> None:
        print(f"{self.count}/{self.total} {self.what}, {self.rate:.1f} {self.what}/s",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.count:
            self._line()
