"""trsp_runfile: the run-file format (docs/formats.md), apart from any simulator.

The simulator (``trsp_fast``), the verifier (``trsp_verify``) and the observables
(``trsp_obs``) all read and write run files through this package, so the verifier never
depends on the code it judges.  It imports no Numba.
"""

from .runfile import (  # noqa: F401
    FORMAT,
    FORMAT_VERSION,
    MODES,
    Checkpoint,
    EventRecord,
    StreamCheck,
    Implementation,
    ReplayEvent,
    RunFile,
    RunWriter,
    SeedRecord,
    Snapshots,
    TrspFileError,
    Truncation,
    apply_changes,
    replay_record,
    first_difference,
    side_files,
)
from .atomic import atomic_path, unwritable_reason, write_text_atomic  # noqa: F401
from .outputs import Output, OutputSet, check_outputs  # noqa: F401
