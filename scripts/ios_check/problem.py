"""A problem the iOS check reports: file, line and message, printed as
`file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"
