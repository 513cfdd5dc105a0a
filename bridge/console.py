"""Where a command's lines go: stdout, plus a passing status line and colour when a person watches a terminal."""

from __future__ import annotations

import os
import shutil
import sys

COLOURS = {"bitwise": "32", "bounded": "33", "mismatch": "31"}  # ANSI: green, yellow, red
CLEAR_LINE = "\r\033[K"


class Console:
    """Lines printed as soon as they are known; on a terminal, what is starting meanwhile, and verdicts in colour.

    Pipes, files and --json get plain lines and no status: nothing but the output.
    NO_COLOR (https://no-color.org), set to anything but "", turns colour off.
    """

    current: Console | None = None  # the one showing a status line, if any

    def __init__(self, stream=None, plain: bool = False):
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.live = not plain and callable(isatty) and bool(isatty())
        self.colour = self.live and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.showing = False

    @classmethod
    def clear_any(cls) -> None:
        """Take away whichever console's status line is showing (before an error goes to stderr)."""
        if cls.current is not None:
            cls.current.clear()

    def status(self, text: str) -> None:
        """Show what is happening now, on one line that the next output replaces (terminals only)."""
        if not self.live:
            return
        width = shutil.get_terminal_size().columns - 1
        self.stream.write(CLEAR_LINE + (text if len(text) <= width else text[: width - 1] + "…"))
        self.stream.flush()
        self.showing, Console.current = True, self

    def clear(self) -> None:
        """Take the status line away, so that a line or an error starts on a clean line."""
        if self.showing:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self.showing, Console.current = False, None

    def line(self, text: str = "") -> None:
        """One line of output, now."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def paint(self, text: str, status: str) -> str:
        """text in the colour of a verdict's status (bitwise, bounded, mismatch), or as it is."""
        code = COLOURS.get(status)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text
