"""The one exception type a user sees: what went wrong, and how to fix it."""


class LiveEngineError(Exception):
    """An error a person can act on.

    `message` says what was wrong (naming the file, key, value or port involved)
    and what is allowed; `fix` is one sentence on what to do about it.
    The CLI prints both on one line and no traceback (unless --debug).
    """

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


def did_you_mean(name: str, choices) -> str:
    """`Did you mean 'default'?` for the choice nearest a mistyped name, or '' where none is near (difflib)."""
    import difflib

    near = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"Did you mean {near[0]!r}?" if near else ""
