"""User stories for the container verbs of the CLI that need no running
container: usage errors (exit 2 with the usage), the one-line message
without a daemon (exit 1), unknown containers (404 not_found, one
"error: ..." line each), requests the daemon refuses, empty listings, and
help for verbs whose operands are a container's own command line."""
import json
import os

import pytest

NO_DAEMON = ("error: cannot reach the zlayer-agent daemon at {} (No such file or directory); "
             "start it with 'zlayer-agent daemon'")

# verb and arguments that would reach the daemon
CLIENT_CALLS = [
    ("run", "busybox", "true"),
    ("run", "-d", "busybox"),
    ("create", "busybox"),
    ("start", "c1"),
    ("ps",),
    ("ps", "-a", "--json"),
    ("logs", "c1"),
    ("logs", "-f", "--tail", "5", "--since", "10m", "c1"),
    ("exec", "c1", "ls", "-l"),
    ("exec", "-e", "A=1", "-w", "/tmp", "-u", "app", "c1", "ls"),
    ("stop", "c1"),
    ("kill", "-s", "HUP", "c1"),
    ("rm", "-f", "c1"),
    ("inspect", "c1"),
    ("stats", "c1"),
    ("wait", "c1"),
]

USAGE_ERRORS = [
    (("run",), "expected an image"),
    (("run", "--detach"), "expected an image"),
    (("run", "-p", "1:2:3:4", "img"), "invalid port mapping '1:2:3:4'"),
    (("run", "-p", "80/sctp", "img"), "protocol 'sctp' is not tcp or udp"),
    (("run", "-p", "8000-8010:80", "img"), "ranges are not supported"),
    (("run", "-v", "data", "img"), "the target 'data' must be an absolute path"),
    (("run", "-v", "/a:/b:rx", "img"), "option 'rx' is not ro or rw"),
    (("run", "--tmpfs", "/t:noexec", "img"), "option 'noexec' is not size=SIZE or mode=OCTAL"),
    (("run", "-e", "=x", "img"), "invalid environment variable '=x'"),
    (("run", "--memory", "lots", "img"), "invalid --memory 'lots'"),
    (("run", "--cpus", "-1", "img"), "invalid --cpus '-1'"),
    (("run", "--pids-limit", "x", "img"), "invalid --pids-limit 'x'"),
    (("run", "--network", "overlay", "img"), "invalid --network 'overlay'"),
    (("run", "--pull", "sometimes", "img"), "invalid --pull 'sometimes'"),
    (("run", "--stop-timeout", "soon", "img"), "invalid --stop-timeout 'soon'"),
    (("run", "-i", "img"), "-i/--interactive is not supported"),
    (("run", "--no-such-flag", "img"), "Usage: zlayer-agent run"),
    (("create", "-d", "img"), "Usage: zlayer-agent create"),
    (("start",), "Usage: zlayer-agent start"),
    (("ps", "extra"), "Usage: zlayer-agent ps"),
    (("ps", "--bogus"), "Usage: zlayer-agent ps"),
    (("logs",), "Usage: zlayer-agent logs"),
    (("logs", "a", "b"), "Usage: zlayer-agent logs"),
    (("logs", "--tail", "x", "c1"), "invalid --tail 'x'"),
    (("exec", "c1"), "Usage: zlayer-agent exec"),
    (("exec",), "Usage: zlayer-agent exec"),
    (("exec", "-u", "app", "c1"), "Usage: zlayer-agent exec"),
    (("exec", "-w", "relative", "c1", "true"), "invalid --workdir 'relative': must be an absolute path"),
    (("exec", "-e", "=x", "c1", "true"), "invalid environment variable '=x'"),
    (("exec", "--bogus", "c1", "true"), "Usage: zlayer-agent exec"),
    (("stop",), "Usage: zlayer-agent stop"),
    (("stop", "-t", "soon", "c1"), "invalid --time 'soon'"),
    (("kill",), "Usage: zlayer-agent kill"),
    (("rm",), "Usage: zlayer-agent rm"),
    (("rm", "--bogus", "c1"), "Usage: zlayer-agent rm"),
    (("inspect",), "Usage: zlayer-agent inspect"),
    (("inspect", "--bogus", "c1"), "Usage: zlayer-agent inspect"),
    (("stats",), "Usage: zlayer-agent stats"),
    (("wait",), "Usage: zlayer-agent wait"),
]


@pytest.fixture
def no_daemon(tmp_path):
    return {"ZLAYER_RUNTIME_DIR": str(tmp_path / "nothing-here")}


@pytest.mark.parametrize("args", CLIENT_CALLS, ids=lambda a: " ".join(a))
def test_without_a_daemon_every_verb_says_so_in_one_line(agent, no_daemon, args):
    r = agent(*args, env=no_daemon)
    assert r.returncode == 1, r
    assert r.stderr == NO_DAEMON.format(os.path.join(no_daemon["ZLAYER_RUNTIME_DIR"], "agent.sock")) + "\n"
    assert r.stdout == ""


@pytest.mark.parametrize("args,message", USAGE_ERRORS, ids=lambda a: " ".join(a) if isinstance(a, tuple) else "")
def test_usage_errors_exit_2_before_any_request(agent, no_daemon, args, message):
    r = agent(*args, env=no_daemon)
    assert r.returncode == 2, r
    assert message in r.stderr
    assert "cannot reach" not in r.stderr
    assert r.stdout == ""


def test_help_of_verbs_with_a_command_line_of_their_own(agent, no_daemon):
    for verb in ("run", "create", "exec", "logs", "ps", "stop", "kill", "rm", "inspect", "stats", "wait", "start"):
        r = agent(verb, "--help", env=no_daemon)
        assert r.returncode == 0, r
        assert r.stdout.startswith(f"Usage: zlayer-agent {verb}"), r.stdout
        r = agent("help", verb, env=no_daemon)
        assert r.returncode == 0 and r.stdout.startswith(f"Usage: zlayer-agent {verb}")
    # after the image (or the container id of exec), --help is the container's
    for args in (("run", "busybox", "ls", "--help"), ("run", "-d", "busybox", "-h"), ("exec", "c1", "ls", "--help")):
        r = agent(*args, env=no_daemon)
        assert r.returncode == 1, r
        assert "cannot reach the zlayer-agent daemon" in r.stderr
    r = agent("--help")
    for verb in ("run", "ps", "logs", "exec", "stop", "kill", "rm", "inspect", "stats", "wait"):
        assert f"\n  {verb} " in r.stdout


ID_VERBS = [
    ("start",),
    ("stop",),
    ("stop", "-t", "1"),
    ("kill",),
    ("kill", "-s", "TERM"),
    ("rm",),
    ("rm", "-f"),
    ("inspect",),
    ("stats",),
    ("wait",),
    ("logs",),
    ("logs", "-f"),
]


def test_unknown_containers_are_not_found(agent_daemon):
    d = agent_daemon()
    for verb in ID_VERBS:
        r = d.cli(*verb, "nope")
        assert r.returncode == 1, (verb, r)
        assert r.stderr == "error: not-found: no such container 'nope'\n", (verb, r.stderr)
    r = d.cli("exec", "nope", "true")
    assert (r.returncode, r.stderr) == (1, "error: not-found: no such container 'nope'\n")
    # several ids: one line per failure, the others still done, exit 1
    r = d.cli("rm", "nope1", "nope2")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["error: not-found: no such container 'nope1'",
                                     "error: not-found: no such container 'nope2'"]
    # a generated id prefix that matches nothing
    r = d.cli("inspect", "zl-abcdef")
    assert r.returncode == 1 and "no such container 'zl-abcdef'" in r.stderr
    # the raw API answers 404 with the kind
    import test_daemon
    status, _, body = test_daemon.api(d.socket, "POST", "/v1/containers/stop?id=nope")
    assert status == 404
    assert body == {"kind": "not_found", "message": "no such container 'nope'"}
    status, _, body = test_daemon.api(d.socket, "GET", "/v1/containers/logs?id=nope&follow=1")
    assert status == 404 and body["kind"] == "not_found"


def test_empty_listings(agent_daemon):
    d = agent_daemon()
    for args in (("ps",), ("ps", "-a")):
        r = d.cli(*args)
        assert r.returncode == 0, r
        assert r.stdout.split() == ["ID", "IMAGE", "STATE", "STATUS", "IP"]
    for args in (("ps", "--json"), ("ps", "-a", "--json")):
        r = d.cli(*args)
        assert r.returncode == 0 and json.loads(r.stdout) == []


def test_requests_the_daemon_refuses(agent_daemon):
    d = agent_daemon()
    r = d.cli("run", "--pull", "never", "nosuch:1")
    assert r.returncode == 1
    assert r.stderr == "error: not-found: image 'nosuch:1' not found (pull or load it first)\n"
    r = d.cli("create", "--pull", "never", "--name", "bad name", "nosuch")
    assert r.returncode == 1
    assert r.stderr.startswith("error: invalid-spec: invalid container config: config.id: 'bad name' is not a "
                               "valid name"), r.stderr
    r = d.cli("run", "--stop-signal", "SIGNOPE", "--pull", "never", "nosuch")
    assert r.returncode == 1
    assert "config.stop_signal: expected a signal name" in r.stderr
    r = d.cli("run", "-w", "relative", "--pull", "never", "nosuch")
    assert r.returncode == 1 and "config.workdir: must be an absolute path" in r.stderr
    r = d.cli("kill", "-s", "SIGNOPE", "c1")
    assert r.returncode == 1
    assert r.stderr == ("error: invalid-spec: query parameter 'signal' must be a signal name (KILL, SIGTERM) "
                        "or number\n")
    r = d.cli("logs", "--since", "yesterday", "c1")
    assert r.returncode == 1 and "query parameter 'since' must be an RFC 3339 time" in r.stderr
    # nothing was created by any of it
    r = d.cli("ps", "-a", "--json")
    assert json.loads(r.stdout) == []
