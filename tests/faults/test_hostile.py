"""Hostile clients of memokeyd, beyond tests/integration (which covers the
auth matrix, path validation, limits and slow clients one case each):
namespaces never see each other's entries — for 200 random keys written with
different values into three namespaces, over both URL forms, with a token per
namespace and one for all, each namespace reads back only its own values,
cross-namespace tokens are refused, and traversal spellings that would reach
another namespace's key are refused or name a different key."""

import random

from faultlib import Memokeyd, request

TOKENS = {"a": "token-for-a-0123", "b": "token-for-b-0123", "c": "token-for-c-0123"}
ALL = "token-for-all-0123"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_namespaces_never_see_each_other():
    args = []
    for ns, tok in TOKENS.items():
        args += ["--token", f"rw:{ns}:{tok}"]
    args += ["--token", f"rw:*:{ALL}"]
    rng = random.Random(8)
    with Memokeyd(*args) as s:
        keys = sorted({"/".join(f"{rng.randrange(1 << 32):08x}" for _ in range(rng.randint(1, 3)))
                       for _ in range(200)})
        for key in keys:
            for ns, tok in TOKENS.items():
                prefix = "/v1" if rng.random() < 0.5 else ""
                r = request(s, "PUT", f"{prefix}/{ns}/{key}", f"{ns}:{key}".encode(), auth(tok))
                assert r.status == 201, r
        for key in keys:
            for ns, tok in TOKENS.items():
                r = request(s, "GET", f"/v1/{ns}/{key}", headers=auth(tok))
                assert r.status == 200 and r.body == f"{ns}:{key}".encode(), r
                r = request(s, "GET", f"/{ns}/{key}", headers=auth(ALL))
                assert r.body == f"{ns}:{key}".encode(), r
        key = keys[0]
        # Another namespace's token: refused, never the value.
        for ns in TOKENS:
            for other, tok in TOKENS.items():
                if other == ns:
                    continue
                assert request(s, "GET", f"/v1/{ns}/{key}", headers=auth(tok)).status == 403
                assert request(s, "PUT", f"/v1/{ns}/{key}", b"evil", auth(tok)).status == 403
                assert request(s, "DELETE", f"/v1/{ns}/{key}", headers=auth(tok)).status == 403
        # Spellings that try to step from a/ into b/.
        for path in [f"/v1/a/../b/{key}", f"/v1/a/%2e%2e/b/{key}", f"/a/..%2fb/{key}",
                     f"/v1/a/./../b/{key}", f"/v1/a%2fb/{key}", f"/v1/a\\..\\b/{key}",
                     f"/v1//b/{key}", f"/v1/a//b/{key}"]:
            r = request(s, "GET", path, headers=auth(TOKENS["a"]))
            assert r.status in (400, 404), (path, r)
            assert f"b:{key}".encode() not in r.body
        # Nothing was overwritten by the refused writes.
        for ns, tok in TOKENS.items():
            assert request(s, "GET", f"/v1/{ns}/{key}", headers=auth(tok)).body == f"{ns}:{key}".encode()
        print(f"\nnamespace isolation: {len(keys)} keys x 3 namespaces, 0 cross reads")
