"""Module-level types and helpers shared by the memokey tests and the child
processes they start (class ids must lead back to a module attribute)."""

from __future__ import annotations

import collections
import dataclasses
import enum
import typing

import memokey


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass(frozen=True)
class Labeled:
    label: str
    value: typing.Any = None
    note: str = dataclasses.field(default="", compare=False)  # not part of the key
    tag: typing.ClassVar[str] = "ignored"


@dataclasses.dataclass
class Cfg:
    name: str
    items: list


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    CRIMSON = 1  # an alias of RED


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


Pair = collections.namedtuple("Pair", ["left", "right"])


class Typed(typing.NamedTuple):
    a: int
    b: str = "b"


class Plain:
    """An ordinary object: encoded through __reduce_ex__(4)."""

    def __init__(self, **attrs: typing.Any) -> None:
        self.__dict__.update(attrs)


class Empty:
    pass


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: typing.Any, b: typing.Any = None) -> None:
        self.a = a
        if b is not None:
            self.b = b


class WithArgs:
    """Reduces with constructor arguments (a custom __reduce__)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self) -> tuple:
        return (WithArgs, (self.n,))


class Hooked:
    def __init__(self, a: typing.Any, cache: typing.Any = None) -> None:
        self.a = a
        self.cache = cache  # not part of the identity

    def __memokey__(self) -> typing.Any:
        return {"a": self.a}


class NestedHook:
    """__memokey__ that itself calls memokey (re-entrancy)."""

    def __init__(self, inner: typing.Any) -> None:
        self.inner = inner

    def __memokey__(self) -> typing.Any:
        return memokey.hexkey(self.inner)


class Registered:
    def __init__(self, x: int, scratch: typing.Any = None) -> None:
        self.x = x
        self.scratch = scratch


class RegisteredChild(Registered):
    pass


class MyDict(dict):
    pass


class MyList(list):
    pass


class MyTuple(tuple):
    pass


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyFloat(float):
    pass


class MySet(set):
    pass


class MyFrozenSet(frozenset):
    pass


class MyBytes(bytes):
    pass


class MyOrderedDict(collections.OrderedDict):
    pass


class SlottedDict(dict):
    __slots__ = ("extra",)


class Unpicklable:
    def __reduce_ex__(self, protocol: int) -> typing.Any:
        raise TypeError("cannot pickle 'Unpicklable' object")


SENTINEL_NAME = "SENTINEL"


class _Sentinel:
    def __reduce__(self) -> str:
        return "SENTINEL"

    def __repr__(self) -> str:
        return "SENTINEL"


SENTINEL = _Sentinel()


def module_function(x: int) -> int:
    return x


def hexkeys(values: list) -> list[str]:
    """The hex keys of values (run in child processes)."""
    return [memokey.hexkey(v) for v in values]


def hexkeys_and_dumps(values: list) -> list[tuple[str, str]]:
    return [(memokey.hexkey(v), memokey.dumps(v).hex()) for v in values]
