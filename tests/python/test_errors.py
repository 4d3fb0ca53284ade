"""CanonicalizationError: what has no canonical form, and the path to it."""

from __future__ import annotations

import sys
import threading
import types

import pytest

import memokey
import memokey_testtypes as tt


def error_of(value) -> memokey.CanonicalizationError:
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.dumps(value)
    # key() walks the same way and fails the same way
    with pytest.raises(memokey.CanonicalizationError) as info2:
        memokey.key(value)
    assert str(info2.value) == str(info.value)
    return info.value


def test_is_a_type_error():
    assert issubclass(memokey.CanonicalizationError, TypeError)
    assert issubclass(memokey.DecodeError, ValueError)


def test_exact_message_with_path():
    args = ({"cfg": tt.Cfg(name="c", items=[0, 1, 2, lambda: 0])},)
    err = error_of([args, {}])
    assert err.path == "[0][0]['cfg'].items[3]"
    assert str(err) == (
        "obj[0][0]['cfg'].items[3]: a lambda (test_errors:test_exact_message_with_path.<locals>.<lambda>) "
        "has no stable identity: define the function with def at module level "
        "(or use functools.partial over a module-level function)"
    )
    assert err.reason.startswith("a lambda")


def test_path_through_plain_object_state():
    # An ordinary object (reduce fallback): its attributes are .name segments.
    err = error_of({"cfg": tt.Plain(items=[0, 1, 2, threading.Lock()])})
    assert err.path == "['cfg'].items[3]"
    assert "lock" in str(err)


def test_path_segments():
    lock = threading.Lock()
    assert error_of((1, [2, lock])).path == "[1][1]"
    assert error_of({"a": {1: lock}}).path == "['a'][1]"
    assert error_of({(1, "x"): lock}).path == "[(1, 'x')]"
    assert error_of(tt.Point(1, lock)).path == ".y"
    assert error_of(tt.Pair(lock, 1)).path == ".left"
    assert error_of(tt.Hooked(lock)).path == ".__memokey__()['a']"
    assert error_of(slice(1, lock)).path == ".stop"
    assert error_of({"k": tt.MyDict(a=lock)}).path == "['k']['a']"
    assert error_of(tt.Slotted(lock)).path == ".a"
    d = tt.MyList([1])
    d.extra = [lock]
    assert error_of(d).path == ".extra[0]"
    assert error_of(frozenset({tt.Unpicklable()})).path.startswith("{")


def test_dict_key_that_fails():
    err = error_of({tt.Unpicklable(): 1})
    assert err.path.startswith("<key ")


def test_lone_surrogate():
    err = error_of({"k": ["ok", "\ud800"]})
    assert err.path == "['k'][1]"
    assert "surrogate" in str(err)
    assert isinstance(err.__cause__, UnicodeEncodeError)


def test_cycles():
    a: list = [1]
    a.append(a)
    err = error_of(a)
    assert err.path == "[1]"
    assert "cycle" in str(err)

    d: dict = {}
    d["self"] = {"inner": d}
    assert error_of(d).path == "['self']['inner']"

    p = tt.Plain()
    p.me = [p]
    assert error_of(p).path == ".me[0]"
    assert "cycle" in str(error_of(p))

    # Shared (acyclic) parts are fine and written twice.
    shared = [1, 2]
    assert memokey.dumps([shared, shared]) == memokey.dumps([[1, 2], [1, 2]])


def test_local_function_and_class_hints():
    def local():
        pass

    class Local:
        pass

    err = error_of([local])
    assert err.path == "[0]"
    assert "defined inside a function" in str(err) and "module level" in str(err)
    assert "defined inside a function" in str(error_of(Local))
    assert "defined inside a function" in str(error_of(Local()))


def test_name_must_lead_back():
    Fake = types.new_class("Fake")
    Fake.__module__ = "memokey_testtypes"  # there is no memokey_testtypes.Fake
    err = error_of(Fake())
    assert "cannot be found" in str(err)
    Point = types.new_class("Point")
    Point.__module__ = "memokey_testtypes"  # memokey_testtypes.Point is another class
    assert "does not lead back" in str(error_of(Point))


def test_unpicklable_objects():
    for value in [threading.Lock(), (x for x in []), types, open(__file__)]:
        err = error_of(value)
        assert "no canonical form" in str(err)
    assert isinstance(error_of(tt.Unpicklable()).__cause__, TypeError)


def test_hook_exception_is_chained():
    def fail():
        raise ValueError("no")

    h = tt.Hooked(1)
    h.__memokey__ = fail  # instance attribute: looked up on the instance
    err = error_of(h)
    assert isinstance(err.__cause__, ValueError)
    assert "__memokey__() raised" in str(err)


def test_keyboard_interrupt_passes_through():
    class Interrupting:
        def __reduce_ex__(self, protocol):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        memokey.dumps([Interrupting()])


def test_nan_dict_keys():
    err = error_of({float("nan"): 1, float("nan"): 2})
    assert "encode identically" in str(err)
    # one NaN key is fine; NaNs in sets collapse to one element
    assert memokey.dumps({float("nan"): 1}).hex() == "a1f97e0001"


def test_mutation_during_encoding():
    target: list = [1, 2, 3]

    def clear(obj):
        target.clear()
        return 0

    memokey.register(tt.RegisteredChild, clear)
    try:
        target.insert(1, tt.RegisteredChild(0))
        with pytest.raises(memokey.CanonicalizationError, match="changed size"):
            memokey.dumps(target)
    finally:
        memokey.unregister(tt.RegisteredChild)


def test_bad_arguments():
    with pytest.raises(TypeError):
        memokey.key(1, namespace=b"ns")
    with pytest.raises(TypeError):
        memokey.key(1, "ns", namespace="ns")
    with pytest.raises(TypeError):
        memokey.key()
    with pytest.raises(TypeError):
        memokey.key(1, nmspace="x")


def test_hook_that_empties_the_containers_being_walked():
    # Small dicts and lists are walked on borrowed references until Python
    # code may run; a hook that empties them must not free what the walk
    # still uses, and the walk must not leak references either.
    kept = "v" * 100
    holder: dict = {}

    def clear(obj):
        holder["dict"].clear()
        holder["list"].clear()
        return 0

    memokey.register(tt.RegisteredChild, clear)
    try:
        for _ in range(3):
            before = sys.getrefcount(kept)
            inner = {"a": ["x" * 64 for _ in range(3)], "b": tt.RegisteredChild(0),
                     "c": {"k": kept}}
            outer = [["q" * 64], inner, ["z" * 64], kept]
            holder.update(dict=inner, list=outer)
            with pytest.raises(memokey.CanonicalizationError, match="changed"):
                memokey.dumps(outer)
            holder.clear()
            del inner, outer
            assert sys.getrefcount(kept) == before
    finally:
        memokey.unregister(tt.RegisteredChild)
    # and an intact document still encodes
    assert memokey.dumps({"c": {"k": kept}, "a": [1]}) == memokey.dumps({"a": [1], "c": {"k": kept}})
