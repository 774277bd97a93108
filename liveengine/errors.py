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


def every_problem(subject: str, problems: list[tuple[str, str]]) -> LiveEngineError:
    """One error for all of a file's problems ((what is wrong, how to fix it) each), so fixing one does not uncover
    the next: `SUBJECT: what` for one, `SUBJECT has N errors: (1) ...; (2) ....` for more (patches, MIDI profiles)."""
    fix = " ".join(dict.fromkeys(fix for _, fix in problems if fix))
    if len(problems) == 1:
        return LiveEngineError(f"{subject}: {problems[0][0]}", fix)
    listed = "; ".join(f"({n}) {message.rstrip('.')}" for n, (message, _) in enumerate(problems, 1))
    return LiveEngineError(f"{subject} has {len(problems)} errors: {listed}" + ("" if listed.endswith("?") else "."), fix)


def first_of(reasons: dict[str, str], shown: int) -> str:
    """'a.mid is empty; b.wav is silent; and 3 more': the first `shown` of name -> reason (skipped files)."""
    more = len(reasons) - shown
    return "; ".join(f"{name} {why}" for name, why in list(reasons.items())[:shown]) + (f"; and {more} more" if more > 0 else "")
