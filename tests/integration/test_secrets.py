"""Secrets: `zlayer-agent secret set|ls|rm` against a daemon, and what the
store leaves on disk (one 0600 file per secret under ROOT/secrets, 0700)."""
import json
import os
import stat
import subprocess

LIMIT = 1024 * 1024


def set_secret(daemon, name, value, timeout=30):
    """`secret set NAME` with value (bytes) on stdin."""
    return subprocess.run([daemon.agent_bin, "secret", "set", name], input=value, capture_output=True,
                          env=daemon.cli_env(), timeout=timeout)


def ls_json(daemon):
    r = daemon.cli("secret", "ls", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_set_from_stdin_then_ls_shows_it_without_the_value(agent_daemon):
    d = agent_daemon()
    r = set_secret(d, "db-password", b"correct horse battery staple\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "db-password"

    r = d.cli("secret", "ls")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "UPDATED"]
    assert len(lines) == 2
    assert lines[1].split()[:2] == ["db-password", "29B"]  # the trailing newline is kept
    assert "ago" in lines[1]
    assert "horse" not in r.stdout

    listed = ls_json(d)
    assert [s["name"] for s in listed] == ["db-password"]
    assert listed[0]["size"] == 29
    assert listed[0]["updated"].endswith("Z") and listed[0]["updated_ns"] > 0
    assert "horse" not in json.dumps(listed)

    with open(os.path.join(d.root, "secrets", "db-password"), "rb") as f:
        assert f.read() == b"correct horse battery staple\n"


def test_set_replaces_and_keeps_binary_values(agent_daemon):
    d = agent_daemon()
    assert set_secret(d, "blob", b"old value").returncode == 0
    value = bytes(range(256)) * 4 + b"\x00\xff"
    r = set_secret(d, "blob", value)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(d.root, "secrets", "blob"), "rb") as f:
        assert f.read() == value
    assert [(s["name"], s["size"]) for s in ls_json(d)] == [("blob", len(value))]


def test_files_are_private(agent_daemon):
    d = agent_daemon()
    assert set_secret(d, "token", b"t0k3n").returncode == 0
    sdir = os.path.join(d.root, "secrets")
    assert stat.S_IMODE(os.stat(sdir).st_mode) == 0o700
    st = os.stat(os.path.join(sdir, "token"))
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert sorted(os.listdir(sdir)) == ["token"]  # no temp files left behind


def test_rm_removes_and_a_missing_one_fails_clearly(agent_daemon):
    d = agent_daemon()
    assert set_secret(d, "a", b"1").returncode == 0
    assert set_secret(d, "b", b"2").returncode == 0

    r = d.cli("secret", "rm", "a")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a"
    assert [s["name"] for s in ls_json(d)] == ["b"]
    assert not os.path.exists(os.path.join(d.root, "secrets", "a"))

    r = d.cli("secret", "rm", "a")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: not-found: no such secret 'a'"

    # several names: the good ones go, the exit status says one failed
    r = d.cli("secret", "rm", "nope", "b")
    assert r.returncode == 1
    assert "no such secret 'nope'" in r.stderr
    assert r.stdout.strip() == "b"
    assert ls_json(d) == []


def test_a_value_over_1_mib_is_refused(agent_daemon):
    d = agent_daemon()
    r = set_secret(d, "huge", b"x" * (LIMIT + 1))
    assert r.returncode == 1
    assert "larger than the limit of 1048576 bytes (1 MiB)" in r.stderr.decode()
    assert ls_json(d) == []

    # text up to the limit is fine as long as the request fits the API's cap
    r = set_secret(d, "big", b"y" * (LIMIT - 64))
    assert r.returncode == 0, r.stderr
    assert [(s["name"], s["size"]) for s in ls_json(d)] == [("big", LIMIT - 64)]


def test_invalid_names_are_refused(agent_daemon):
    d = agent_daemon()
    for name in ("../escape", ".hidden", "a b", "x" * 129):
        r = set_secret(d, name, b"v")
        assert r.returncode == 1, name
        assert "error: invalid-spec: invalid secret name" in r.stderr.decode(), r.stderr
    assert ls_json(d) == []
    assert os.listdir(os.path.join(d.root, "secrets")) == []


def test_usage_errors(agent_daemon, agent_bin):
    d = agent_daemon()
    r = d.cli("secret")
    assert r.returncode == 2 and "Usage: zlayer-agent secret COMMAND" in r.stderr
    r = d.cli("secret", "frob")
    assert r.returncode == 2 and "unknown command 'frob'" in r.stderr
    r = d.cli("secret", "set")
    assert r.returncode == 2
    r = d.cli("secret", "rm")
    assert r.returncode == 2
    r = d.cli("secret", "--help")
    assert r.returncode == 0 and "printf %s" in r.stdout


def test_set_refuses_a_terminal(agent_daemon):
    d = agent_daemon()
    leader, follower = os.openpty()
    try:
        r = subprocess.run([d.agent_bin, "secret", "set", "db"], stdin=follower, capture_output=True, text=True,
                           env=d.cli_env(), timeout=30)
    finally:
        os.close(leader)
        os.close(follower)
    assert r.returncode == 2
    assert "refusing to read secret 'db' from a terminal" in r.stderr
    assert "printf %s VALUE | zlayer-agent secret set db" in r.stderr
    assert ls_json(d) == []


def test_secrets_survive_a_restart(agent_daemon):
    d = agent_daemon()
    assert set_secret(d, "keep", b"me").returncode == 0
    d.stop()
    d.start()
    assert [s["name"] for s in ls_json(d)] == ["keep"]
