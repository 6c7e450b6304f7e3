"""The 'thorough' Hypothesis profile (tests/conftest.py), exercised.

CI runs every property test under the derandomized 'ci' profile (25 examples).  The
periodic run (before a release, or weekly)::

    python3 -m pytest -m thorough -s

runs the whole CI suite again in a subprocess under the 'thorough' profile (500 random
examples per property); a failure prints the Hypothesis reproduction blob.  The profile's
settings themselves are checked in CI.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]


def test_thorough_profile_is_registered_and_stronger_than_ci():
    thorough, ci = settings.get_profile("thorough"), settings.get_profile("ci")
    assert thorough.max_examples >= 10 * ci.max_examples
    assert ci.derandomize and not thorough.derandomize  # the periodic run explores new examples


@pytest.mark.thorough
def test_suite_under_the_thorough_profile():
    env = dict(os.environ, HYPOTHESIS_PROFILE="thorough")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(REPO / "tests")],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
