"""The one output policy of every ``trsp`` command (README, "Exit status"; house rule 4).

A command declares its outputs, each an :class:`Output` (the option that names it, the path,
a file or a folder of files), and its inputs.  :func:`check_outputs` refuses, before any work,
with one :class:`~trsp_ref.params.ParameterError` naming the option:

* an output that cannot be written: a missing folder, a file where a folder should be, a
  folder where a file should be, no permission (:func:`trsp_runfile.atomic.unwritable_reason`);
* an output that is one of the inputs (the same file by ``os.path.samefile``, so also through
  symbolic and hard links; by resolved path when one does not exist yet), or that is another
  output under a second name (``fit --out x.json`` would be its own report);
* an output that already exists, unless the command was told to replace it (``--force``;
  ``exists_hint`` says what to do).

:class:`OutputSet` then writes the outputs as a set.  Each file is written to a temporary file
beside its target, each folder to a staging folder beside it; only when the command has written
all of them are they moved into place, one ``os.replace`` after another (renames in the targets'
own folders: no data is copied at that point).  Any failure before then leaves every previous
output as it was and no temporary file behind, and is reported as one error naming the option
(``--out``, ``--json``, ...) and the target, never a temporary file.  A folder output owns the
files named in its ``members``: one that this run did not write is removed when the new set is
moved in, so an earlier run's plot never stays beside the new ones.

Usage (``trsp fit``)::

    outputs = OutputSet([Output("--out", out), Output("--report", report, "the report"),
                         Output("--plots", plots, "the plots", folder=True, members=tuple(PLOTS))],
                        inputs=data_files, force=force)          # checked here, before the fit
    result = fit(...)
    with outputs.writing() as w:                                 # checked again; all or none
        w.path("--out").write_text(toml)                        # a temporary file beside --out
        save_plots(w.path("--plots"))                            # a staging folder
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from trsp_ref.params import ParameterError

from .atomic import current_umask, fsync_dir, replace_from_temp, temp_beside, unwritable_reason

__all__ = ["Output", "OutputSet", "check_outputs", "check_distinct_inputs", "same_file", "FORCE_HINT"]

#: what an error about an existing output tells the user, unless a command says otherwise
FORCE_HINT = "pass --force to replace it"


@dataclass(frozen=True)
class Output:
    """One output of a command.

    option : the command-line option that names it (``"--out"``); every error names it.
    path : the file, or the folder of files (``folder=True``).
    what : words for an output whose path the user may not have typed (``"the report, beside
        --out"``), shown after the path.
    members : for a folder, the names of the files the command owns in it: existing ones need
        ``force``, and the ones a run does not write are removed when its set is moved in.
        Empty: the command writes files of varying names and removes none.
    """

    option: str
    path: Path
    what: str = ""
    folder: bool = False
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def label(self) -> str:
        return f"{self.path} ({self.what})" if self.what else str(self.path)

    def targets(self) -> list[Path]:
        """The files this output writes or replaces (a folder: its owned members)."""
        return [self.path / m for m in self.members] if self.folder else [self.path]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file: the same inode when both exist (symbolic and
    hard links included), else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:  # pragma: no cover - unreadable metadata: fall back to the names
        pass
    return a.resolve() == b.resolve()


def check_distinct_inputs(paths: Iterable[str | os.PathLike], parameter: str, why: str) -> None:
    """ParameterError(parameter) when one file is given twice (under two names too: links,
    ``./a.h5`` and ``a.h5``); ``why`` says what counting it twice would do."""
    paths = [Path(p) for p in paths]
    for i, b in enumerate(paths):
        for a in paths[:i]:
            if same_file(a, b):
                raise ParameterError(parameter, f"{b} is the same file as {a}: {why}")


def check_outputs(
    outputs: Iterable[Output], *, inputs: Iterable[str | os.PathLike] = (), force: bool = False, exists_hint: str = FORCE_HINT
) -> None:
    """Refuse, before any work, outputs that cannot or must not be written (module docstring).

    Raises ParameterError naming the output's option; checks nothing else and writes nothing."""
    outputs = list(outputs)
    inputs = [Path(p) for p in inputs if p is not None]
    for o in outputs:
        reason = unwritable_reason(o.path, folder=o.folder)
        if reason is not None:
            raise ParameterError(o.option, reason if not o.what else f"{reason} ({o.what})")
        for inp in inputs:
            for t in o.targets():
                if same_file(t, inp):
                    name = "" if t == o.path else f" would replace {t}, which"
                    raise ParameterError(o.option, f"{o.label}{name} is the input {inp}: an output may not replace an input (choose another name)")
    for i, o in enumerate(outputs):
        for p in outputs[:i]:
            if any(same_file(t, u) for t in o.targets() + [o.path] for u in p.targets() + [p.path]):
                raise ParameterError(o.option, f"{o.label} is also the output of {p.option} ({p.path}): give them different names")
    if force:
        return
    for o in outputs:
        if not o.folder and (o.path.exists() or o.path.is_symlink()):
            raise ParameterError(o.option, f"{o.label} already exists: {exists_hint}")
        there = [t.name for t in o.targets()] if o.folder and o.path.is_dir() else []
        there = [n for n in there if (o.path / n).exists()]
        if there:
            shown = ", ".join(there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
            raise ParameterError(o.option, f"the folder {o.label} already holds {shown} from an earlier run: {exists_hint.replace('it', 'them')}")


class OutputSet:
    """The outputs of one command, checked at once and written as a set (module docstring)."""

    def __init__(
        self, outputs: Iterable[Output], *, inputs: Iterable[str | os.PathLike] = (), force: bool = False, exists_hint: str = FORCE_HINT
    ):
        self.outputs = {o.option: o for o in outputs}
        self.inputs = [Path(p) for p in inputs if p is not None]
        self.force = force
        self.exists_hint = exists_hint
        self._staged: dict[str, Path] = {}
        self._current: str | None = None
        self.check()

    def check(self) -> None:
        """:func:`check_outputs` for the set (again: things may change while a command works)."""
        check_outputs(self.outputs.values(), inputs=self.inputs, force=self.force, exists_hint=self.exists_hint)

    def __getitem__(self, option: str) -> Output:
        return self.outputs[option]

    def path(self, option: str, suffix: str = "") -> Path:
        """Where to write the output of ``option`` now: a temporary file beside it (``suffix``
        kept for libraries that infer the format, e.g. ``".png"``), or for a folder a staging
        folder to write its members in.  Only inside :meth:`writing`."""
        o = self.outputs[option]
        self._current = option
        if option not in self._staged:
            if o.folder:
                anchor = o.path.parent if o.path.parent.is_dir() else _nearest_existing(o.path.parent)
                stage = Path(tempfile.mkdtemp(prefix=f".{o.path.name}.", suffix=".tmp", dir=anchor))
                os.chmod(stage, 0o777 & ~current_umask())
                self._staged[option] = stage
            else:
                self._staged[option] = temp_beside(o.path, suffix)
        return self._staged[option]

    @contextlib.contextmanager
    def writing(self) -> Iterator["OutputSet"]:
        """Check the set again, let the caller write every output (:meth:`path`), then move them
        all into place; on any error remove what was staged and leave the previous outputs."""
        self.check()
        try:
            yield self
            self._commit()
        except OSError as exc:
            # the reason in words, with every temporary name replaced by its target's (libraries
            # such as h5py put the file they were writing into their messages)
            reason = str(exc.strerror or exc)
            for option, staged in self._staged.items():
                reason = reason.replace(str(staged), str(self.outputs[option].path))
            self._discard()
            o = self.outputs.get(self._current) if self._current else None
            if o is None:
                raise
            raise ParameterError(o.option, f"cannot write {o.label}: {reason}") from None
        except BaseException:
            self._discard()
            raise

    def _commit(self) -> None:
        for option, staged in list(self._staged.items()):
            o = self.outputs[option]
            self._current = option
            if not o.folder:
                replace_from_temp(staged, o.path)
            elif not o.path.exists():
                o.path.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staged, o.path)
                fsync_dir(o.path.parent)
            else:
                written = {f.name for f in staged.iterdir()}
                for name in written:
                    os.replace(staged / name, o.path / name)
                for name in set(o.members) - written:  # an earlier run's member: not part of this set
                    (o.path / name).unlink(missing_ok=True)
                staged.rmdir()
                fsync_dir(o.path)
            del self._staged[option]

    def _discard(self) -> None:
        for staged in self._staged.values():
            if staged.is_dir():
                shutil.rmtree(staged, ignore_errors=True)
            else:
                staged.unlink(missing_ok=True)
        self._staged.clear()


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
