"""How a long command talks while it works: a progress bar of named stages on stderr.

Results go to stdout; progress and notes go to stderr, so ``dealer-risk train ... | tail -1``
or ``--json`` output stays clean for a script. The bar is tqdm's (already a dependency)
and shows only on a terminal unless ``--progress`` asks for it; ``--quiet`` shows no bar
and no notes, only the result (errors are still printed).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer


class Stages:
    """A command's named stages, shown as a bar that advances stage by stage.

    Parameters
    ----------
    command : str
        The bar's label (the command's name).
    total : int
        How many stages; :meth:`stage` names each one as it begins.
    quiet : bool
        No bar, no notes, no summary: the caller prints only its result.
    progress : bool or None
        Force the bar on (True) or off (False); None shows it when stderr is a terminal.
    announce : bool
        Without a bar, print ``[n/N] stage ...`` and ``done in X s`` lines (for the demo,
        whose minutes a log should show); otherwise only notes and the summary.

    Examples
    --------
    >>> stages = Stages("train", 2, progress=False)
    >>> with stages.stage("reading"):
    ...     pass
    >>> stages.finish("trained")  # doctest: +SKIP
    """

    def __init__(self, command: str, total: int, *, quiet: bool = False,
                 progress: bool | None = None, announce: bool = False) -> None:
        self.quiet = quiet
        self.total = total
        self.started = time.perf_counter()
        self._done = 0
        self._announce = announce and not quiet
        show = (sys.stderr.isatty() if progress is None else progress) and not quiet
        self._bar: Any = None
        if show:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=command, unit="stage", file=sys.stderr,
                             leave=False, dynamic_ncols=True,
                             bar_format="{desc}: {n_fmt}/{total_fmt} |{bar:20}| "
                                        "{elapsed}{postfix}")

    @property
    def bar_shown(self) -> bool:
        """Whether a progress bar is on screen (so a nested bar should stay off)."""
        return self._bar is not None

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        """One stage: the bar shows ``name`` while the block runs; yields a list for notes.

        Notes appended to the list are printed (unless quiet) when the stage ends.
        """
        number = self._done + 1
        if self._bar is not None:
            self._bar.set_postfix_str(name)
        elif self._announce:
            typer.echo(f"[{number}/{self.total}] {name} ...", err=True)
        started = time.perf_counter()
        notes: list[str] = []
        yield notes
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
        if self._announce:
            detail = f": {'; '.join(notes)}" if notes else ""
            seconds = time.perf_counter() - started
            if self._bar is not None:  # one line per finished stage, above the bar
                self.note(f"[{number}/{self.total}] {name}: {seconds:.1f} s{detail}")
            else:
                typer.echo(f"      done in {seconds:.1f} s{detail}", err=True)
        else:
            for note in notes:
                self.note(note)

    def note(self, text: str) -> None:
        """A line of detail on stderr, above the bar (nothing when quiet)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            typer.echo(text, err=True)

    def finish(self, summary: str) -> None:
        """Close the bar and print the one summary line (with the total time) on stderr."""
        self.close()
        if not self.quiet:
            typer.echo(f"{summary} ({time.perf_counter() - self.started:.1f} s)", err=True)

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the bar (also when the command fails)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
