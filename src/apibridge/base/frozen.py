"""A faster ``__init__`` for the frozen dataclasses built once per object of a cluster dump.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (it must get
past its own ``__setattr__``, which refuses): about 0.3 µs a field. The model builds four of them per pod
(``Document``, ``Location``, ``Meta``, ``PodLike``), so 100,000 pods spent most of a second there.
``fast_init`` gives such a class an ``__init__`` that writes the instance's ``__dict__`` directly: the
same fields, defaults and order, the object as frozen as before (assignment still raises), equal and
printed as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Replace the generated ``__init__`` of frozen dataclass ``cls`` (no slots, no ``__post_init__``, no
    ``default_factory``: refused, so the shortcut cannot silently skip one of them)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init: {cls.__name__} is not a plain frozen dataclass")
    args: list[str] = []
    body: list[str] = []
    namespace: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} needs the generated __init__")
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        body.append(f"    d[{f.name!r}] = {f.name}")
    source = f"def __init__(self, {', '.join(args)}):\n    d = self.__dict__\n" + "\n".join(body) + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - replacing the generated method
    return cls
