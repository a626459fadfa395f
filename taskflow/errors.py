"""Errors caused by a user's input: they carry where (file:line:column, field) and what."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def where(self) -> str:
        parts = []
        if self.file:
            loc = self.file
            if self.line is not None:
                loc += f":{self.line}"
                if self.column is not None:
                    loc += f":{self.column}"
            parts.append(loc)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


@dataclass
class UserError(Exception):
    """A mistake in what a user gave us. The CLI prints it and exits with code 2."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def single(cls, message: str, **where) -> UserError:
        return cls([Problem(message, **where)])

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class NotFound(UserError):
    """A named thing (plan, unit, task) does not exist."""
