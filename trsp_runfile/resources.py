"""Resource estimates made before a command starts work (README, "Exit status"; house rule 4).

A job whose size a user chooses (a lattice, a frame interval, a bootstrap count) is refused
before it allocates or computes anything when it certainly cannot finish: one
:class:`~trsp_ref.params.ParameterError` naming the option, with the estimate and what to do.
Estimates are lower bounds (the arrays a job must hold), so nothing that fits is refused.
"""

from __future__ import annotations

import os

from trsp_ref.params import ParameterError

__all__ = ["MAX_BOOTSTRAP", "available_memory", "gb", "check_memory", "check_bootstrap_count"]

#: the most bootstrap resamples a command accepts.  The bootstrap error's own Monte Carlo
#: precision is about 1/sqrt(2 B) relative (0.7% at B = 10^4), far below its statistical
#: uncertainty for any number of replicas or blocks a data set has: more resamples buy only
#: time and memory (both grow linearly in B).
MAX_BOOTSTRAP = 10_000


def available_memory() -> int | None:
    """Memory the process can still get (Linux MemAvailable; else total physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def gb(n: float) -> str:
    """Bytes in words (``"1.5 GB"``)."""
    return f"{n / 1e9:.3g} GB"


def check_memory(need: float, option: str, what: str, advice: str, available: int | None = None) -> None:
    """ParameterError(option) when ``what`` certainly needs more than the memory available."""
    have = available_memory() if available is None else available
    if have is not None and need > have:
        raise ParameterError(option, f"{what} needs at least {gb(need)} of memory, more than the {gb(have)} available; {advice}")


def check_bootstrap_count(n: int, option: str) -> None:
    """ParameterError(option) for a bootstrap count above :data:`MAX_BOOTSTRAP`."""
    if n > MAX_BOOTSTRAP:
        raise ParameterError(
            option,
            f"must be <= {MAX_BOOTSTRAP:,}: the error of a bootstrap error is already ~{100 / (2 * MAX_BOOTSTRAP) ** 0.5:.1g}% "
            "there, so more resamples buy only time and memory",
            n,
        )
