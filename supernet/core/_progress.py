"""One progress display for every long stage: a live bar on a terminal; in a log file or
CI, a plain line now and then (every ``every_pct`` % of the work or ``every_s`` seconds,
whichever comes first) with the rate and the time left; nothing with ``disable``."""

from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["progress"]


def _number(value: float) -> str:
    """A rate for a person: 3 significant digits below 100, whole and grouped above (7,110)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _Display:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass


class _Lines(_Display):
    """The non-terminal display: a line per step of ``every_pct`` % or ``every_s`` seconds."""

    def __init__(self, total: int, desc: str, unit: str, initial: int, stream: IO[str], every_pct: float,
                 every_s: float, leave: bool) -> None:
        self.total, self.desc, self.unit, self.stream, self.leave = total, desc, unit, stream, leave
        self.n = self.start_n = initial
        self.every_n = max(1, int(total * every_pct / 100)) if total else 1
        self.every_s, self.postfix = every_s, ""
        self.t0 = self.last_t = time.monotonic()
        self.last_n = initial
        self.per_second: bool | None = None  # the rate's form, fixed by the first line: unit/s or s/unit

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.n - self.last_n >= self.every_n or now - self.last_t >= self.every_s:
            self._line(now)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def _line(self, now: float) -> None:
        done, spent = self.n - self.start_n, now - self.t0
        parts = [f"{self.desc}: {self.n}/{self.total} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f} %)"
        if done > 0 and spent > 0:
            rate = done / spent
            if self.per_second is None:
                self.per_second = rate >= 1
            parts.append(f"{_number(rate)} {self.unit}/s" if self.per_second
                         else f"{_number(1 / rate)} s/{self.unit}")
            if self.total and self.n < self.total:
                parts.append(f"{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        print(", ".join(parts), file=self.stream, flush=True)
        self.last_t, self.last_n = now, self.n

    def close(self) -> None:
        if self.leave and self.n != self.last_n:
            self._line(time.monotonic())


class _Off(_Display):
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass


def progress(total: int, desc: str, *, unit: str = "it", initial: int = 0, disable: bool = False,
             leave: bool = True, stream: IO[str] | None = None, every_pct: float = 10.0,
             every_s: float = 60.0):
    """A progress display with ``update(n)``, ``set_postfix(**values)`` and ``close()``:
    tqdm's bar when ``stream`` (stderr by default) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    if disable:
        return _Off()
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=stream,
                    dynamic_ncols=True)
    return _Lines(total, desc, unit, initial, stream, every_pct, every_s, leave)
