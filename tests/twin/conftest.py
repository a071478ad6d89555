"""Fixtures for the twin tests (helpers live in ``twinlab``, a uniquely named module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twinlab import Lab, require_ovn


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A lab shared by the tests of one module; teardown asserts nothing of ours is left."""
    require_ovn()
    the_lab = Lab.up()
    try:
        yield the_lab
    finally:
        the_lab.close()
    assert the_lab.leftovers() == []
