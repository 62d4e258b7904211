"""The authorisation matrix: every publisher endpoint, called with no
token, a malformed one, a revoked one, another account's, a collaborator's
and the owner's. Refused calls change nothing."""
import json

from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)

OK, CREATED = 200, 201
FORBIDDEN = (403, "forbidden")


def endpoints(img_bytes):
    """(name, method, path, body, expected for collaborator, for owner, for
    another account); before each call the state it needs is re-made."""
    return [
        ("whoami", "GET", "/v1/account", None, OK, OK, OK),
        ("register", "POST", "/v1/packages", "fresh", CREATED, CREATED, CREATED),
        ("package", "GET", "/v1/packages/hello", None, OK, OK, FORBIDDEN),
        ("collaborators add", "POST", "/v1/packages/hello/collaborators",
         {"account": "dave"}, FORBIDDEN, OK, FORBIDDEN),
        ("collaborators remove", "DELETE", "/v1/packages/hello/collaborators/dave", None,
         FORBIDDEN, OK, FORBIDDEN),
        ("push", "POST", "/v1/push", img_bytes, OK, OK, FORBIDDEN),
        ("release", "POST", "/v1/packages/hello/release",
         {"revision": 1, "channels": ["edge"]}, OK, OK, FORBIDDEN),
        ("promote", "POST", "/v1/packages/hello/promote", {"from": "edge", "to": "beta"},
         OK, OK, FORBIDDEN),
        ("close", "POST", "/v1/packages/hello/close", {"channels": ["beta"]}, OK, OK,
         FORBIDDEN),
        ("status", "GET", "/v1/packages/hello/status", None, OK, OK, FORBIDDEN),
        ("revisions", "GET", "/v1/packages/hello/revisions", None, OK, OK, FORBIDDEN),
    ]


def test_authorisation_matrix(store, tmp_path):
    store.start()
    alice = store.account("alice")
    bob = store.account("bob")
    carol = store.account("carol")
    store.account("dave")
    p = store.admin("account", "token", "carol")
    revoked = p.stdout.strip()
    token_id = p.stderr.split()[1]  # "token ID for carol: shown once, ..."
    assert store.admin("account", "revoke", "carol", token_id).stdout == \
        "revoked 1 token of carol\n"
    store.owner_tokens["alice"] = alice
    assert store.api("POST", "/v1/packages", {"name": "hello"}, token=alice)[0] == 201
    assert store.api("POST", "/v1/packages/hello/collaborators", {"account": "carol"},
                     token=alice)[0] == 200
    img = make_image(tmp_path, "hello", "1.0")
    img_bytes = open(img, "rb").read()
    assert store.api("POST", "/v1/push", img_bytes, token=alice,
                     headers={"Content-Type": "application/octet-stream"})[0] == 201
    assert store.api("POST", "/v1/packages/hello/release",
                     {"revision": 1, "channels": ["edge"]}, token=alice)[0] == 200

    callers = {
        "no token": (None, (401, "auth-required")),
        "not bearer": ("Basic YWxpY2U6eA==", (401, "invalid-token")),
        "malformed": ("Bearer ferry_short", (401, "invalid-token")),
        "unknown": ("Bearer ferry_" + "0" * 64, (401, "invalid-token")),
        "revoked": ("Bearer " + revoked, (401, "invalid-token")),
        "another account": ("Bearer " + bob, None),
        "collaborator": ("Bearer " + carol, None),
        "owner": ("Bearer " + alice, None),
    }
    wrong = []
    n = 0
    for name, method, path, body, for_collab, for_owner, for_other in endpoints(img_bytes):
        for who, (auth, fixed) in callers.items():
            # what the call needs to find
            store.api("POST", "/v1/packages/hello/collaborators", {"account": "dave"},
                      token=alice)
            expected = fixed or {"another account": for_other, "collaborator": for_collab,
                                 "owner": for_owner}[who]
            if not isinstance(expected, tuple):
                expected = (expected, None)
            payload = body
            if body == "fresh":
                n += 1
                payload = {"name": f"fresh{n}"}
            headers = {"Authorization": auth} if auth else {}
            if isinstance(payload, bytes):
                headers["Content-Type"] = "application/octet-stream"
            before = store.state() if expected[0] >= 400 else None
            status, _, data = store.request(method, path, payload, headers)
            reply = json.loads(data)
            code = reply.get("error", {}).get("code") if isinstance(reply, dict) else None
            if status != expected[0] or (expected[1] and code != expected[1]):
                wrong.append(f"{name} as {who}: {status} {code}, expected {expected}")
            if before is not None and store.state() != before:
                wrong.append(f"{name} as {who}: refused, but the store changed")
    assert wrong == []
    store.check_consistent()
    assert store.stop() == 0, store.read_log()
