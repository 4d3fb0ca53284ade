"""Error paths: parameter names for memoized arguments, long paths elided.

Repros from issue 14: `obj[1]['hooks'][1]` where the parameter's name is
known; a 600-deep list gave a 1,606-character message.
"""

from __future__ import annotations

import pytest

import memokey


def nested(depth: int, leaf: object) -> list:
    """[[[...[leaf]...]]] with `depth` lists."""
    value: list = [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_memoized_argument_path_names_the_parameter():
    @memokey.memoize(store=False)
    def f(a, x):
        return a

    with pytest.raises(memokey.CanonicalizationError) as info:
        f(1, {"hooks": [1, lambda: 0]})
    assert str(info.value).startswith("x['hooks'][1]: a lambda")
    assert info.value.path == "x['hooks'][1]"
    # the same through the Python side (f.key) and with the argument by keyword
    with pytest.raises(memokey.CanonicalizationError) as info:
        f.key(1, x={"hooks": [1, lambda: 0]})
    assert info.value.path == "x['hooks'][1]"


def test_varargs_keywords_defaults_and_ignored_parameters():
    @memokey.memoize(store=False)
    def g(a, *rest, flag=False, **kw):
        return a

    bad = lambda: 0  # noqa: E731 - a value with no canonical form
    with pytest.raises(memokey.CanonicalizationError) as info:
        g(1, 2, bad)
    assert info.value.path == "rest[1]"
    with pytest.raises(memokey.CanonicalizationError) as info:
        g(1, other=[bad])
    assert info.value.path == "kw['other'][0]"
    with pytest.raises(memokey.CanonicalizationError) as info:
        g(1, flag=bad)
    assert info.value.path == "flag"

    @memokey.memoize(store=False, ignore=["b"])
    def h(a, b, c=None):
        return a

    with pytest.raises(memokey.CanonicalizationError) as info:
        h(1, 2, c=(bad,))
    assert info.value.path == "c[0]"
    assert h(1, bad) == 1  # an ignored parameter is never encoded


def test_plain_key_paths_still_start_at_obj():
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.key((1, {"hooks": [lambda: 0]}))
    assert info.value.path == "[1]['hooks'][0]"
    assert str(info.value).startswith("obj[1]['hooks'][0]: ")


def test_600_deep_list_path_is_elided():
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.key(nested(600, 1))
    err = info.value
    segments = err.path.count("[0]")
    assert err.path == "[0]" * segments and segments > 500  # the attribute keeps the whole path
    assert str(err) == (
        "obj" + "[0]" * 8 + f"...[{segments - 16} more]..." + "[0]" * 8 + ": " + err.reason
    )
    assert len(str(err)) < 200


def test_elision_starts_past_24_segments():
    bad = lambda: 0  # noqa: E731
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.key(nested(24, bad))
    assert str(info.value).startswith("obj" + "[0]" * 24 + ": ")
    with pytest.raises(memokey.CanonicalizationError) as info:
        memokey.key(nested(25, bad))
    assert str(info.value).startswith("obj" + "[0]" * 8 + "...[9 more]..." + "[0]" * 8 + ": ")


def test_memoized_deep_argument_is_named_and_elided():
    @memokey.memoize(store=False)
    def f(tree):
        return 0

    with pytest.raises(memokey.CanonicalizationError) as info:
        f(nested(600, 1))
    err = info.value
    assert str(err).startswith("tree" + "[0]" * 8 + "...[")
    assert err.path.startswith("tree[0][0]") and len(str(err)) < 200
