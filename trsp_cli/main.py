"""The ``trsp`` command line: typed (typer), one subcommand per job.

Each subcommand is a thin shell over a ``run_*`` function in its own module, imported
lazily so that ``trsp --help`` does not pay for Numba or SymPy.  Errors a user can fix
(bad parameters, unusable files) are printed as one clear line and exit with status 2,
never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="trsp",
    help="Time-Reversible Structuro-Plastic (TRSP) models: reference oracle, fast simulator, verification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: exit status for input a user can fix (documented in README.md)
EXIT_BAD_INPUT = 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from trsp_ref.params import ParameterError

    errors: list[type[BaseException]] = [ParameterError]
    try:
        from trsp_fast.runfile import TrspFileError

        errors.append(TrspFileError)
    except ImportError:  # pragma: no cover - run files not built yet
        pass
    return tuple(errors)


def _guarded(fn, *args, **kwargs):
    """Run a job; turn a user-fixable error into one line on stderr and exit status 2."""
    errors = _user_errors()
    try:
        return fn(*args, **kwargs)
    except errors as exc:
        typer.echo(f"trsp: error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def reference(
    params: Optional[Path] = typer.Argument(
        None, help="Parameter file (TOML, docs/model.md). Default: the built-in example."
    ),
    out: Path = typer.Option(Path("reference.json"), "--out", "-o", help="JSON file to write (atomically)."),
) -> None:
    """Write the oracle's conformance vectors for a parameter set (docs/formats.md)."""
    from trsp_cli.reference_cmd import run_reference

    _guarded(run_reference, params, out)
    typer.echo(f"wrote {out}")


def main() -> None:  # pragma: no cover - console entry point alternative
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
