"""Shared fixtures: a tiny built-in example sequence and the tiny fit config."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
CAT_WALK = SHARED / "data" / "cat_walk"


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> Path:
    """The built-in walking creature, 6 frames, as a folder of OBJ files."""
    from catlas.data import write_example

    out = tmp_path_factory.mktemp("example") / "frames"
    write_example(out, n_frames=6)
    return out


@pytest.fixture
def cat_walk() -> Path:
    if not CAT_WALK.is_dir():
        pytest.skip("../shared/data/cat_walk is absent")
    return CAT_WALK
