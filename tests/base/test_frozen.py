"""fast_init: the same frozen dataclass, built without ``object.__setattr__`` per field."""

from __future__ import annotations

import dataclasses

import pytest

from apibridge.base.frozen import fast_init


@fast_init
@dataclasses.dataclass(frozen=True)
class _Point:
    x: int
    y: int = 7
    tag: str = dataclasses.field(default="p", compare=False)


def test_fields_defaults_equality_and_repr_are_the_dataclass_ones() -> None:
    p = _Point(1)
    assert (p.x, p.y, p.tag) == (1, 7, "p")
    assert p == _Point(1, 7, "other")  # compare=False is kept
    assert hash(p) == hash(_Point(1, 7))
    assert repr(p) == "_Point(x=1, y=7, tag='p')"
    assert dataclasses.replace(p, y=2) == _Point(1, 2)


def test_still_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Point(1).x = 2  # type: ignore[misc]


def test_refuses_what_it_would_skip() -> None:
    @dataclasses.dataclass(frozen=True)
    class Factory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Post:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass
    class Mutable:
        x: int

    for cls in (Factory, Post, Mutable):
        with pytest.raises(TypeError):
            fast_init(cls)
