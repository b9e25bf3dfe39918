"""Hostile input on the daemon's HTTP API, spoken as raw HTTP/1.1 on its unix
socket (python's http.client over AF_UNIX, and plain sockets where HTTP
itself is broken): malformed and non-object JSON, unknown, mistyped and
missing fields at the top level and nested, oversize bodies and headers, a
slow client, bad query values route by route, unknown ids on every route
that names an object, wrong methods, an unsupported operation, and images
for another operating system (route_to_peer). Every error is checked for
its status, its kind and a message that names what was wrong.

One agent daemon for the module; the anonymous test registry (conftest.py)
for the images."""
import http.client
import json
import os
import socket
import tempfile
import textwrap
import threading
import time

import pytest

import conftest

PREFIX = "h1in"  # container, deployment and service names: node-wide


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Reply:
    def __init__(self, status, headers, data):
        self.status, self.headers, self.data = status, headers, data

    def json(self):
        return json.loads(self.data)

    def lines(self):
        return [json.loads(line) for line in self.data.decode().splitlines() if line.strip()]


def call(d, method, path, body=None, raw=None, headers=None, timeout=60):
    """One request; body is JSON-encoded, raw is sent as is."""
    conn = UnixHTTPConnection(d.socket, timeout=timeout)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=dict(headers or {}))
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def error(d, method, path, body=None, raw=None, status=400, kind="invalid_spec", names=()):
    """A request that must fail: asserts the status, the JSON error's kind
    and that the message names every string in names; returns the body."""
    r = call(d, method, path, body=body, raw=raw)
    assert r.status == status, f"{method} {path} {body or raw!r}: {r.status} {r.data!r}"
    assert r.headers.get("content-type") == "application/json", r.headers
    e = r.json()
    assert e["kind"] == kind, e
    assert isinstance(e["message"], str) and e["message"], e
    for n in names:
        assert n in e["message"], f"{method} {path}: {n!r} not in {e['message']!r}"
    return e


def raw_exchange(d, data, timeout=10):
    """Send raw bytes, read until the daemon closes; a reset after its reply
    (it stops reading a request it refuses) is fine."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(d.socket)
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
    finally:
        s.close()
    return out


def status_of(reply):
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    return int(reply[9:12])


def alive(d):
    r = call(d, "GET", "/v1/version", timeout=10)
    assert r.status == 200 and r.json()["api_version"] == 1


@pytest.fixture(scope="module")
def api(agent_bin, registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("api-input")
    rundir = tempfile.mkdtemp(prefix="zl-in-", dir="/tmp")  # short: sun_path is 108 bytes
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    cfg = base / "empty-docker-config"
    cfg.mkdir()
    env["DOCKER_CONFIG"] = str(cfg)
    d = conftest.RuntimeDaemon(agent_bin, base / "root", rundir, [], env, base / "daemon.log", dict(env),
                               runtime="oci")
    d.reg = registry()
    d.base = base
    try:
        d.start()
        yield d
    finally:
        d.force_cleanup()


# --- bodies -------------------------------------------------------------------------------------

def test_malformed_json_names_line_and_column(api):
    e = error(api, "POST", "/v1/images/pull", raw=b'{"reference": "a",\n  "platform": }')
    assert "malformed JSON request body at line 2, column" in e["message"], e
    e = error(api, "POST", "/v1/containers", raw=b'{"config": {"image": "a"}')
    assert "malformed JSON request body at line 1, column" in e["message"], e
    # duplicate keys are malformed too: which one would win?
    error(api, "POST", "/v1/images/tag", raw=b'{"source": "a", "source": "b", "target": "c"}',
          names=["duplicate", "source"])
    # a route that takes no body still refuses a broken one
    error(api, "POST", "/v1/images/prune", raw=b"{", names=["malformed JSON request body at line 1"])
    error(api, "POST", "/v1/images/pull", raw=b"\xff\xfe{}", names=["malformed JSON request body"])


def test_body_must_be_an_object(api):
    for raw in (b"[]", b'[{"reference": "a"}]'):
        error(api, "POST", "/v1/images/pull", raw=raw, names=["request body must be a JSON object"])
    # jansson takes only arrays and objects at the top
    error(api, "POST", "/v1/images/pull", raw=b'"busybox"', names=["malformed JSON request body at line 1"])
    error(api, "PUT", f"/v1/secrets?name={PREFIX}-s", raw=b"42", names=["malformed JSON request body"])


def test_unknown_fields(api):
    cases = [
        ("POST", "/v1/images/pull", {"reference": "a", "foo": 1}, "request body: unknown field 'foo'"),
        ("POST", "/v1/images/load", {"reference": "oci-layout:/nowhere", "tag": "x"},
         "request body: unknown field 'tag'"),
        ("POST", "/v1/images/tag", {"source": "a", "target": "b", "force": True},
         "request body: unknown field 'force'"),
        ("POST", "/v1/containers", {"config": {"image": "a"}, "name": "x"}, "request body: unknown field 'name'"),
        ("PUT", f"/v1/secrets?name={PREFIX}-s", {"valu": "x"}, "request body: unknown field 'valu'"),
        ("POST", "/v1/deployments", {"yaml": "x", "files": "a.yaml"}, "request body: unknown field 'files'"),
        # nested: the container config names the whole path
        ("POST", "/v1/containers", {"config": {"image": "a", "colour": "red"}}, "config.colour: unknown field"),
        ("POST", "/v1/containers", {"config": {"image": "a", "resources": {"gpu": 1}}},
         "config.resources.gpu: unknown field"),
        ("POST", "/v1/containers",
         {"config": {"image": "a", "mounts": [{"source": "/a", "target": "/b"}, {"target": "/c", "rw": True}]}},
         "config.mounts[1].rw: unknown field"),
        ("POST", "/v1/containers", {"config": {"image": "a", "ports": [{"container_port": 80, "proto": "tcp"}]}},
         "config.ports[0].proto: unknown field"),
    ]
    for method, path, body, msg in cases:
        error(api, method, path, body=body, names=[msg])


def test_wrong_types(api):
    cases = [
        ("POST", "/v1/images/pull", {"reference": 5}, "request body: field 'reference' must be a string, not an integer"),
        ("POST", "/v1/images/pull", {"reference": "a", "platform": ["linux"]},
         "request body: field 'platform' must be a string, not an array"),
        ("POST", "/v1/images/tag", {"source": {}, "target": "b"},
         "request body: field 'source' must be a string, not an object"),
        ("POST", "/v1/containers", {"config": "busybox"},
         "request body: field 'config' must be an object, not a string"),
        ("POST", "/v1/containers", {"config": {"image": "a"}, "pull": True},
         "request body: field 'pull' must be a string, not a boolean"),
        ("PUT", f"/v1/secrets?name={PREFIX}-s", {"value": 12},
         "request body: field 'value' must be a string, not an integer"),
        ("POST", "/v1/deployments", {"yaml": 1.5}, "request body: field 'yaml' must be a string, not a number"),
        ("POST", "/v1/deployments", {"yaml": "x", "file": []},
         "request body: field 'file' must be a string, not an array"),
        # nested, with the full path
        ("POST", "/v1/containers", {"config": {"image": "a", "env": ["A=1", "B=2", 3]}},
         "config.env[2]: expected a string, not an integer"),
        ("POST", "/v1/containers", {"config": {"image": "a", "resources": {"memory": [512]}}},
         "config.resources.memory: expected a size in bytes"),
        ("POST", "/v1/containers", {"config": {"image": "a", "resources": {"cpu": "2"}}},
         "config.resources.cpu: expected a number of cores from 0 to 4096, not a string"),
        ("POST", "/v1/containers", {"config": {"image": "a", "mounts": [{"target": "/x", "readonly": "yes"}]}},
         "config.mounts[0].readonly: expected true or false, not a string"),
        ("POST", "/v1/containers", {"config": {"image": "a", "ports": [{"container_port": "80"}]}},
         "config.ports[0].container_port: expected an integer from 1 to 65535, not a string"),
        ("POST", "/v1/containers", {"config": {"image": "a", "labels": {"k": 1}}},
         "config.labels.k: expected a string, not an integer"),
        ("POST", "/v1/containers", {"config": {"image": "a", "cap_add": ["NET_ADMIN", None]}},
         "config.cap_add[1]: expected a string, not null"),
        ("POST", "/v1/containers", {"config": {"image": ["a"]}}, "config.image: expected a string, not an array"),
    ]
    for method, path, body, msg in cases:
        error(api, method, path, body=body, names=[msg])


def test_missing_and_wrong_values(api):
    cases = [
        ("POST", "/v1/images/pull", {}, "request body: field 'reference' is required"),
        ("POST", "/v1/images/pull", None, "request body: field 'reference' is required"),
        ("POST", "/v1/images/pull", {"reference": None}, "request body: field 'reference' is required"),
        ("POST", "/v1/images/tag", {"source": "a"}, "request body: field 'target' is required"),
        ("POST", "/v1/containers", {"pull": "never"}, "request body: field 'config' is required"),
        ("POST", "/v1/containers", {"config": {}}, "config.image: required"),
        ("POST", "/v1/deployments", {"file": "a.yaml"}, "request body: field 'yaml' is required"),
        ("PUT", f"/v1/secrets?name={PREFIX}-s", {},
         "request body: exactly one of the fields 'value' and 'value_base64' is required"),
        ("PUT", f"/v1/secrets?name={PREFIX}-s", {"value": "a", "value_base64": "YQ=="},
         "request body: exactly one of the fields 'value' and 'value_base64' is required"),
        ("PUT", f"/v1/secrets?name={PREFIX}-s", {"value_base64": "%%%"},
         "request body: field 'value_base64' is not valid base64"),
        ("POST", "/v1/containers", {"config": {"image": "a"}, "pull": "sometimes"},
         "request body: field 'pull' must be one of missing, always, never, not 'sometimes'"),
        ("POST", "/v1/images/pull", {"reference": "a", "platform": "linux"}, "invalid platform 'linux'"),
        ("POST", "/v1/containers", {"config": {"image": "a", "env": ["A=1", "NOVALUE"]}},
         "config.env[1]: 'NOVALUE' is not of the form NAME=VALUE"),
    ]
    for method, path, body, msg in cases:
        error(api, method, path, body=body, names=[msg])
    # exec's body is the exec handler's own; it still names the field
    error(api, "POST", "/v1/containers/exec?id=nope", body={}, names=["argv"])
    # nothing was made by any of it
    assert call(api, "GET", "/v1/containers?all=1").json()["containers"] == []
    assert call(api, "GET", "/v1/secrets").json()["secrets"] == []


# --- caps ----------------------------------------------------------------------------------------

def test_oversize_body_is_413(api):
    big = b'{"reference": "' + b"a" * (1024 * 1024) + b'"}'
    e = error(api, "POST", "/v1/images/pull", raw=big, status=413, names=["larger than the limit of 1048576 bytes"])
    assert e["kind"] == "invalid_spec"
    # announced with Expect: 100-continue, it is refused before the body
    reply = raw_exchange(api, b"POST /v1/images/pull HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                              b"Content-Length: 2000000\r\n\r\n")
    assert status_of(reply) == 413 and b"larger than the limit" in reply, reply[:300]
    alive(api)


def test_oversize_headers(api):
    request = b"GET /v1/version HTTP/1.1\r\nHost: x\r\n"
    # one header of 100 KiB
    reply = raw_exchange(api, request + b"X-Big: " + b"a" * (100 * 1024) + b"\r\nConnection: close\r\n\r\n")
    assert status_of(reply) == 431, reply[:300]
    # ten thousand small ones
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(10000))
    reply = raw_exchange(api, request + many + b"Connection: close\r\n\r\n")
    assert status_of(reply) == 431, reply[:300]
    # a request line of 100 KiB
    reply = raw_exchange(api, b"GET /v1/containers/inspect?id=" + b"a" * (100 * 1024) +
                         b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(reply) in (414, 431), reply[:300]
    # headers just under the cap are fine
    reply = raw_exchange(api, request + b"X-Big: " + b"a" * (32 * 1024) + b"\r\nConnection: close\r\n\r\n")
    assert status_of(reply) == 200, reply[:300]
    alive(api)


def test_slow_clients_do_not_block_others(api):
    """Half a request (no end of headers, or half a body) waits for the idle
    timeout (120 s, no knob to shorten it); meanwhile everyone else is served,
    and a client that gives up is dropped at once."""
    slow = []
    try:
        for i in range(20):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(api.socket)
            if i % 2:
                s.sendall(b"POST /v1/images/tag HTTP/1.1\r\nHost: x\r\nContent-Le")
            else:
                s.sendall(b"POST /v1/images/tag HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"so")
            slow.append(s)
        t0 = time.monotonic()
        for _ in range(20):
            alive(api)
        assert time.monotonic() - t0 < 10
        # the slow ones are still waiting, not answered
        slow[0].settimeout(0.3)
        with pytest.raises(socket.timeout):
            slow[0].recv(1)
        # concurrent clients while the slow ones hold their connections
        errors = []

        def worker():
            try:
                for _ in range(10):
                    alive(api)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    finally:
        for s in slow:
            s.close()
    alive(api)


# --- query parameters ------------------------------------------------------------------------------

def test_bad_query_values(api):
    cases = [
        ("POST", "/v1/containers/stop?id=x&timeout=abc", "timeout"),
        ("POST", "/v1/containers/stop?id=x&timeout=86401", "timeout"),
        ("POST", "/v1/containers/stop?id=x&timeout=", "timeout"),
        ("POST", "/v1/containers/kill?id=x&signal=FOO", "signal"),
        ("POST", "/v1/containers/kill?id=x&signal=0", "signal"),
        ("POST", "/v1/containers/wait?id=x&condition=soon", "condition"),
        ("GET", "/v1/containers/logs?id=x&tail=-3", "tail"),
        ("GET", "/v1/containers/logs?id=x&tail=ten", "tail"),
        ("GET", "/v1/containers/logs?id=x&since=yesterday", "since"),
        ("GET", "/v1/containers/logs?id=x&follow=maybe", "follow"),
        ("GET", "/v1/containers?all=maybe", "all"),
        ("DELETE", "/v1/containers?id=x&force=perhaps", "force"),
        ("POST", "/v1/containers/start?id=x&attach=2", "attach"),
        ("POST", "/v1/containers/start?id=x&attach=1&wait_removed=%FF", "wait_removed"),
        ("POST", "/v1/deployments/scale?service=web&replicas=x", "replicas"),
        ("POST", "/v1/deployments/scale?service=web&replicas=-1", "replicas"),
        ("POST", "/v1/deployments/scale?service=web", "replicas"),
        ("GET", "/v1/events?since=x", "since"),
        ("GET", "/v1/events?follow=sure", "follow"),
        ("DELETE", "/v1/images?ref=busybox&force=yes-please", "force"),
        ("POST", "/v1/wasm/precompile?reference=/tmp/x.wasm", "reference"),
        # required ones
        ("GET", "/v1/images/inspect", "ref"),
        ("POST", "/v1/containers/stop", "id"),
        ("PUT", "/v1/secrets", "name"),
        ("POST", "/v1/jobs/run", "name"),
        ("GET", "/v1/jobs/execution", "id"),
        ("DELETE", "/v1/deployments", "name"),
    ]
    for method, path, name in cases:
        body = {"value": "x"} if method == "PUT" else None
        e = error(api, method, path, body=body, names=[f"query parameter '{name}'"])
        assert e["kind"] == "invalid_spec"
    # the values that are booleans
    for v in ("1", "true", "YES", "on", "0", "false", "No", "off", ""):
        r = call(api, "GET", f"/v1/containers?all={v}")
        assert r.status == 200, (v, r.data)


# --- statuses --------------------------------------------------------------------------------------

def test_unknown_ids_are_404_everywhere(api):
    routes = [
        ("POST", "/v1/containers/start?id=nope"),
        ("POST", "/v1/containers/start?id=nope&attach=1"),
        ("POST", "/v1/containers/stop?id=nope"),
        ("POST", "/v1/containers/kill?id=nope"),
        ("DELETE", "/v1/containers?id=nope"),
        ("GET", "/v1/containers/inspect?id=nope"),
        ("GET", "/v1/containers/stats?id=nope"),
        ("POST", "/v1/containers/wait?id=nope"),
        ("GET", "/v1/containers/logs?id=nope"),
        ("GET", "/v1/containers/logs?id=nope&follow=1"),
        ("GET", "/v1/containers/inspect?id=..%2F..%2Fetc"),
        ("GET", "/v1/deployments?name=nope"),
        ("DELETE", "/v1/deployments?name=nope"),
        ("POST", "/v1/deployments/scale?service=nope&replicas=1"),
        ("GET", "/v1/images/inspect?ref=nope"),
        ("DELETE", "/v1/images?ref=nope"),
        ("GET", "/v1/jobs?name=nope"),
        ("GET", "/v1/jobs/execution?id=nope"),
        ("GET", "/v1/jobs/logs?id=nope"),
        ("POST", "/v1/jobs/cancel?id=nope"),
        ("POST", "/v1/jobs/run?name=nope"),
        ("POST", "/v1/crons/trigger?name=nope"),
        ("DELETE", "/v1/secrets?name=nope"),
    ]
    for method, path in routes:
        e = error(api, method, path, status=404, kind="not_found")
        assert "nope" in e["message"] or "../../etc" in e["message"], e
    error(api, "POST", "/v1/containers/exec?id=nope", body={"argv": ["ls"]}, status=404, kind="not_found",
          names=["nope"])
    error(api, "POST", "/v1/images/tag", body={"source": "nope", "target": "x:1"}, status=404, kind="not_found",
          names=["nope"])
    # an id that is not UTF-8 still gets a JSON reply
    e = error(api, "GET", "/v1/containers/inspect?id=%FF%FEx", status=404, kind="not_found")
    assert "\ufffd" in e["message"], e
    error(api, "GET", "/v1/nope", status=404, kind="not_found", names=["no API endpoint '/v1/nope'"])


def test_wrong_method_is_405(api):
    for method, path, allowed in [("PUT", "/v1/containers", "GET, POST, DELETE"),
                                  ("GET", "/v1/images/pull", "POST"),
                                  ("POST", "/v1/secrets", "PUT, GET, DELETE"),
                                  ("DELETE", "/v1/version", "GET")]:
        r = call(api, method, path)
        assert r.status == 405, (method, path, r.status, r.data)
        e = r.json()
        assert e["kind"] == "unsupported" and f"method '{method}' is not allowed on '{path}'" in e["message"], e
        assert set(r.headers["allow"].split(", ")) == set(allowed.split(", ")), r.headers


def test_exec_into_webassembly_is_501(api, tmp_path):
    module = tmp_path / "empty.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0")
    name = f"{PREFIX}-wasm"
    api.created.add(name)
    r = call(api, "POST", "/v1/containers", body={"config": {"id": name, "image": f"file:{module}"}})
    assert r.status == 201, r.data
    try:
        error(api, "POST", f"/v1/containers/exec?id={name}", body={"argv": ["ls"]}, status=501,
              kind="unsupported", names=[name, "WebAssembly"])
    finally:
        assert call(api, "DELETE", f"/v1/containers?id={name}&force=1").status == 200


# --- route_to_peer ---------------------------------------------------------------------------------

def assert_route_to_peer(e, image):
    assert e["kind"] == "route_to_peer", e
    assert e["required_os"] == "windows", e
    assert "is for os 'windows', this node runs linux: route it to a node running windows" in e["message"], e
    assert image in e["message"], e


def test_windows_images_route_to_a_peer(api):
    for tag in ("windows", "windows-single"):
        ref = api.reg.ref("busybox", tag)
        e = error(api, "POST", "/v1/containers", body={"config": {"id": f"{PREFIX}-win", "image": ref}},
                  status=409, kind="route_to_peer")
        assert_route_to_peer(e, ref.split("/", 1)[1])
        # a pull streams; its last line carries the same error
        r = call(api, "POST", "/v1/images/pull", body={"reference": ref})
        assert r.status == 200, r.data
        last = r.lines()[-1]
        assert last["status"] == "error", last
        assert_route_to_peer(last["error"], ref.split("/", 1)[1])
    # the same arch of our OS missing stays wrong_platform
    r = call(api, "POST", "/v1/images/pull", body={"reference": api.reg.ref("busybox", "index"),
                                                   "platform": "linux/s390x"})
    last = r.lines()[-1]
    assert last["error"]["kind"] == "wrong_platform" and "required_os" not in last["error"], last
    # asking for windows on purpose fetches it (nothing runs it here)
    r = call(api, "POST", "/v1/images/pull", body={"reference": api.reg.ref("busybox", "windows"),
                                                   "platform": "windows/amd64"})
    last = r.lines()[-1]
    assert last["status"] == "done" and last["image"]["os"] == "windows", last
    # ... and then a container of it is still for a peer
    e = error(api, "POST", "/v1/containers",
              body={"config": {"image": api.reg.ref("busybox", "windows")}, "pull": "never"},
              status=409, kind="route_to_peer")
    assert e["required_os"] == "windows", e
    assert e["message"].startswith(f"image '{api.reg.ref('busybox', 'windows')}': the image is for os 'windows'"), e
    assert call(api, "GET", "/v1/containers?all=1").json()["containers"] == []
    assert call(api, "DELETE", "/v1/images?ref=" + api.reg.ref("busybox", "windows")).status == 200


def test_windows_layout_load_routes_to_a_peer(api, test_images):
    ref = f"oci-layout:{test_images.layout}:windows-single"
    r = call(api, "POST", "/v1/images/load", body={"reference": ref})
    last = r.lines()[-1]
    assert last["status"] == "error" and last["error"]["kind"] == "route_to_peer", last
    assert last["error"]["required_os"] == "windows", last
    r = call(api, "POST", "/v1/images/load", body={"reference": f"oci-layout:{test_images.layout}:windows"})
    last = r.lines()[-1]
    assert last["error"]["kind"] == "route_to_peer" and last["error"]["required_os"] == "windows", last


def test_deploy_of_a_windows_image_routes_to_a_peer(api):
    name = f"{PREFIX}-peer"
    ref = api.reg.ref("busybox", "windows")

    def yaml(policy):
        return textwrap.dedent(f"""\
            version: v1
            deployment: {name}
            services:
              {PREFIX}winsvc:
                image: {{ name: "{ref}", pull_policy: {policy} }}
            """)

    try:
        # pulled for the deploy
        e = error(api, "POST", "/v1/deployments", body={"yaml": yaml("if_not_present"), "file": "peer.yaml"},
                  status=409, kind="route_to_peer")
        assert e["required_os"] == "windows", e
        assert f"service '{PREFIX}winsvc': image '{ref}': pull" in e["message"], e
        assert "route it to a node running windows" in e["message"], e
        # stored already (fetched for windows on purpose)
        r = call(api, "POST", "/v1/images/pull", body={"reference": ref, "platform": "windows/amd64"})
        assert r.lines()[-1]["status"] == "done", r.data
        e = error(api, "POST", "/v1/deployments", body={"yaml": yaml("never"), "file": "peer.yaml"},
                  status=409, kind="route_to_peer")
        assert e["required_os"] == "windows", e
        assert f"service '{PREFIX}winsvc': image '{ref}': the image is for os 'windows'" in e["message"], e
    finally:
        call(api, "DELETE", f"/v1/deployments?name={name}", timeout=120)
        call(api, "DELETE", "/v1/images?ref=" + ref)
    alive(api)
