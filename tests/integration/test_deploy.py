"""Service manager stories: `zlayer-agent deploy` brings a spec up in
dependency order and keeps it the way the spec says (replicas, health,
restart policies, crash loops, scaling, rolling updates, secrets, init
steps), driven by exit events; `down` takes it away, dependents first.
One agent daemon per module (crash-loop settings shrunk through its config
file), the zl-test image loaded; every story removes its deployment."""
import json
import time

import pytest

from deploykit import show, spec, wait_for

HELPER = "zl-testhelper"
# crash loop after 2 restarts within 60 s, then 2 s between restarts
DAEMON_CONFIG = {"crashloop_window": "60s", "crashloop_restarts": 2, "crashloop_delay": "2s"}


def status(d, name):
    r = d.cli("status", "--json", name)
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)


def replicas(d, name, service):
    return status(d, name)["services"][service]["replicas"]


def events(d, name):
    r = d.cli("events", "--json", "--no-follow", name)
    assert r.returncode == 0, show(r, d)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def event_types(d, name, replica=None):
    return [e["type"] for e in events(d, name) if replica is None or e.get("replica") == replica]


def deploy(d, path, down, name, ok_=True, timeout=120):
    down.append(name)
    r = d.cli("deploy", str(path), timeout=timeout)
    if ok_:
        assert r.returncode == 0, show(r, d)
    return r


def test_deploy_in_dependency_order_with_health_and_replicas(dd, down):
    p = spec(dd, "shop", f"""
    web:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "http", "8080"] }}
      endpoints: [{{ name: http, protocol: http, port: 8080 }}]
      scale: {{ mode: fixed, replicas: 2 }}
      depends: [{{ service: db, condition: healthy, timeout: 30s }}]
      health: {{ check: {{ type: http, url: "http://localhost:8080/" }}, interval: 1s }}
      stop_grace_period: 1s
    db:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "tcp", "5432"] }}
      health: {{ check: {{ type: tcp, port: 5432 }}, interval: 1s }}
      stop_grace_period: 1s
    """)
    deploy(dd, p, down, "shop")
    st = status(dd, "shop")
    assert st["deployment"] == "shop"
    web, db = st["services"]["web"], st["services"]["db"]
    assert web["desired"] == 2 and db["desired"] == 1
    assert sorted(r["id"] for r in web["replicas"]) == ["web-rep-1", "web-rep-2"]
    assert [r["id"] for r in db["replicas"]] == ["db-rep-1"]
    assert all(r["state"] == "running" and r["pid"] > 0 for r in web["replicas"] + db["replicas"])
    # db was healthy before any web replica started
    evs = events(dd, "shop")
    healthy_db = next(e["seq"] for e in evs if e["type"] == "HealthHealthy" and e["replica"] == "db-rep-1")
    first_web = min(e["seq"] for e in evs if e["type"] == "ContainerStarted" and e["service"] == "web")
    assert healthy_db < first_web, evs
    wait_for("web healthy", lambda: all(r["health"]["status"] == "healthy" for r in replicas(dd, "shop", "web")))
    info = json.loads(dd.cli("inspect", "--json", "web-rep-1").stdout)[0]
    assert info["health"]["status"] == "healthy" and info["service"] == "web" and info["deployment"] == "shop", info
    assert info["health"]["checks"] >= 1 and info["restarts"] == 0, info
    r = dd.cli("ps", "--json")
    ids = {c["id"] for c in json.loads(r.stdout)}
    assert {"db-rep-1", "web-rep-1", "web-rep-2"} <= ids

    # down: dependents first, then everything gone
    r = dd.cli("down", "shop", timeout=120)
    assert r.returncode == 0, show(r, dd)
    down.remove("shop")
    r = dd.cli("ps", "-a", "--json")
    assert not {"db-rep-1", "web-rep-1", "web-rep-2"} & {c["id"] for c in json.loads(r.stdout)}
    r = dd.cli("status", "shop")
    assert r.returncode == 1 and "no such deployment 'shop'" in r.stderr, show(r)


def test_crash_loop_backoff_with_one_pending_restart(dd, down):
    p = spec(dd, "crashy", """
    crash:
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "exit 3"] }
    """)
    deploy(dd, p, down, "crashy")
    wait_for("CrashLoopBackOff", lambda: "CrashLoopBackOff" in event_types(dd, "crashy"), timeout=20)
    types = event_types(dd, "crashy", "crash-rep-1")
    assert types.count("ContainerRestarted") == 2, types
    rep = replicas(dd, "crashy", "crash")[0]
    assert rep["state"] == "backoff" and rep["exit_code"] == 3, rep
    # in the loop: restarts every 2 s, not faster (one pending restart)
    n0 = rep["restarts"]
    time.sleep(3.2)
    n1 = replicas(dd, "crashy", "crash")[0]["restarts"]
    assert 1 <= n1 - n0 <= 2, (n0, n1)


def test_exit_zero_completes_and_is_not_restarted(dd, down):
    p = spec(dd, "oneshot", """
    once:
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo done"] }
    """)
    deploy(dd, p, down, "oneshot")
    wait_for("completed", lambda: replicas(dd, "oneshot", "once")[0]["state"] == "completed")
    time.sleep(0.5)
    rep = replicas(dd, "oneshot", "once")[0]
    assert rep["state"] == "completed" and rep["restarts"] == 0 and rep["exit_code"] == 0, rep
    assert "ContainerCompleted" in event_types(dd, "oneshot")


@pytest.mark.parametrize("action,state,event", [("shutdown", "failed", "ServiceShutdown"),
                                                ("isolate", "isolated", "ContainerIsolated")])
def test_on_panic_shutdown_and_isolate(dd, down, action, state, event):
    name = f"panic-{action}"
    p = spec(dd, name, f"""
    svc:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["sh", "-c", "sleep 0.2; exit 7"] }}
      errors: {{ on_panic: {{ action: {action} }} }}
    """)
    deploy(dd, p, down, name)
    wait_for(state, lambda: replicas(dd, name, "svc")[0]["state"] == state)
    time.sleep(0.5)
    rep = replicas(dd, name, "svc")[0]
    assert rep["state"] == state and rep["restarts"] == 0, rep
    assert event in event_types(dd, name)
    if action == "isolate":
        # left as it is, for debugging
        r = dd.cli("inspect", "--json", "svc-rep-1")
        assert r.returncode == 0 and json.loads(r.stdout)[0]["exit_code"] == 7, show(r)


def test_restart_policy_on_failure_max_attempts(dd, down):
    p = spec(dd, "limited", """
    svc:
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "exit 1"] }
      restart_policy: { kind: on_failure, max_attempts: 1 }
    """)
    deploy(dd, p, down, "limited")
    wait_for("failed", lambda: replicas(dd, "limited", "svc")[0]["state"] == "failed")
    rep = replicas(dd, "limited", "svc")[0]
    assert rep["restarts"] == 1, rep


def test_scale_up_and_down_removes_highest_first(dd, down):
    p = spec(dd, "scaled", f"""
    app:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      scale: {{ mode: manual }}
    """)
    deploy(dd, p, down, "scaled")
    assert [r["id"] for r in replicas(dd, "scaled", "app")] == ["app-rep-1"]
    r = dd.cli("scale", "app", "3")
    assert r.returncode == 0, show(r, dd)
    reps = replicas(dd, "scaled", "app")
    assert sorted(r["id"] for r in reps) == ["app-rep-1", "app-rep-2", "app-rep-3"]
    assert all(r["state"] == "running" for r in reps)
    r = dd.cli("scale", "scaled/app", "1")
    assert r.returncode == 0, show(r, dd)
    assert [r["id"] for r in replicas(dd, "scaled", "app")] == ["app-rep-1"]
    r = dd.cli("scale", "nosuch", "2")
    assert r.returncode == 1 and "no such service 'nosuch'" in r.stderr, show(r)


@pytest.mark.parametrize("on_timeout", ["fail", "warn", "continue"])
def test_dependency_timeout(dd, down, on_timeout):
    name = f"deps-{on_timeout}"
    p = spec(dd, name, f"""
    db:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      health: {{ check: {{ type: tcp, port: 5999 }}, interval: 500ms, timeout: 200ms }}
    app:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      depends: [{{ service: db, condition: healthy, timeout: 2s, on_timeout: {on_timeout} }}]
    """)
    r = deploy(dd, p, down, name, ok_=False)
    if on_timeout == "fail":
        assert r.returncode == 1, show(r, dd)
        assert "dependency-timeout" in r.stderr and "service 'app': dependency 'db' not healthy within 2s" in r.stderr, \
            show(r)
        assert status(dd, name)["services"]["app"]["phase"] == "failed"
    else:
        assert r.returncode == 0, show(r, dd)
        # warn says so in an event; continue goes on quietly
        assert ("DependencyTimeout" in event_types(dd, name)) == (on_timeout == "warn")
        assert replicas(dd, name, "app")[0]["state"] == "running"


def test_secrets_and_env_references(dd, down):
    r = dd.cli("secret", "set", "db", input='{"password": "s3cret", "port": 5432}')
    assert r.returncode == 0, show(r, dd)
    p = spec(dd, "envs", """
    app:
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "env; sleep 100"] }
      env:
        PW: "$S:db/password"
        URL: "postgres://u:${S:db/password}@db:${S:db/port}"
        PLAIN: "hello"
      stop_grace_period: 1s
    """)
    deploy(dd, p, down, "envs")
    out = wait_for("env in the log", lambda: (lambda r: "PW=" in r.stdout and r.stdout)(dd.cli("logs", "app-rep-1")))
    assert "PW=s3cret\n" in out and "URL=postgres://u:s3cret@db:5432\n" in out and "PLAIN=hello\n" in out, out

    p = spec(dd, "envs-missing", """
    app2:
      image: { name: "IMAGE" }
      command: { entrypoint: ["sleep", "100"] }
      env: { PW: "$S:nosuch" }
    """)
    r = deploy(dd, p, down, "envs-missing", ok_=False)
    assert r.returncode == 1 and "secret 'nosuch'" in r.stderr and "PW" in r.stderr, show(r, dd)
    assert not any(c["id"] == "app2-rep-1" for c in json.loads(dd.cli("ps", "-a", "--json").stdout))


def test_init_steps(dd, down):
    port = conftest_free_port()
    p = spec(dd, "inits", f"""
    ok:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      init:
        steps:
          - {{ id: prepare, uses: init.run, with: {{ command: "echo preparing; exit 0" }} }}
    bad:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      init:
        steps:
          - {{ id: wait-port, uses: init.wait_tcp, with: {{ host: 127.0.0.1, port: {port}, timeout: 1s }} }}
    """)
    r = deploy(dd, p, down, "inits", ok_=False)
    assert r.returncode == 1, show(r, dd)
    assert "init step 'wait-port'" in r.stderr and f"127.0.0.1:{port}" in r.stderr, show(r)
    st = status(dd, "inits")["services"]
    assert st["ok"]["replicas"][0]["state"] == "running"
    assert st["bad"]["replicas"][0]["state"] == "failed"
    assert "InitFailed" in event_types(dd, "inits")


def conftest_free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rolling_update_replaces_one_at_a_time_and_a_bad_one_stops(dd, down):
    def write(version, cmd):
        return spec(dd, "roll", f"""
        web:
          image: {{ name: "IMAGE" }}
          command: {{ entrypoint: ["sh", "-c", "{cmd}"] }}
          env: {{ VERSION: "{version}" }}
          scale: {{ mode: fixed, replicas: 2 }}
          health: {{ check: {{ type: command, command: "test -e /tmp/ok" }}, interval: 500ms, retries: 2 }}
          stop_grace_period: 1s
        """)
    good = f"touch /tmp/ok; exec {HELPER} signals"
    deploy(dd, write("1", good), down, "roll")
    wait_for("healthy", lambda: all(r["health"]["status"] == "healthy" for r in replicas(dd, "roll", "web")))
    old = {r["id"]: r["pid"] for r in replicas(dd, "roll", "web")}

    r = dd.cli("deploy", str(write("2", good)), timeout=120)
    assert r.returncode == 0, show(r, dd)
    wait_for("rollout done", lambda: "RolloutComplete" in event_types(dd, "roll"))
    reps = [x for x in replicas(dd, "roll", "web") if not x.get("retired")]
    assert len(reps) == 2 and all(x["state"] == "running" for x in reps), reps
    assert not set(old.values()) & {x["pid"] for x in reps}, (old, reps)
    # never fewer than 2 serving: each new one was started before an old one stopped
    evs = [e for e in events(dd, "roll") if e["type"] in ("ContainerStarted", "ContainerRemoved")]
    serving, low = 0, 99
    for e in evs:
        serving += 1 if e["type"] == "ContainerStarted" else -1
        if e["seq"] > min(x["seq"] for x in evs if x["type"] == "ContainerStarted") + 1:
            low = min(low, serving)
    assert low >= 2, evs

    # a new version that never becomes healthy: the rollout stops, the old serve
    before = {x["pid"] for x in replicas(dd, "roll", "web") if x["state"] == "running"}
    r = dd.cli("deploy", str(write("3", f"exec {HELPER} signals")), timeout=120)
    assert r.returncode == 1 and "rollout of service 'web' stopped" in r.stderr, show(r, dd)
    wait_for("old serving", lambda: {x["pid"] for x in replicas(dd, "roll", "web")
                                     if x["state"] == "running"} == before)


def test_agent_restart_adopts_running_replicas(dd, down, agent_bin):
    p = spec(dd, "keep", f"""
    app:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      scale: {{ mode: fixed, replicas: 2 }}
      stop_grace_period: 1s
    """)
    deploy(dd, p, down, "keep")
    r = dd.cli("scale", "keep/app", "3")
    assert r.returncode == 0, show(r, dd)
    pids = {r["id"]: r["pid"] for r in replicas(dd, "keep", "app")}
    assert len(pids) == 3, pids
    dd.kill9()
    dd.start()
    wait_for("restored", lambda: dd.cli("status", "--json", "keep").returncode == 0 and
             all(r["state"] == "running" for r in replicas(dd, "keep", "app")))
    assert {r["id"]: r["pid"] for r in replicas(dd, "keep", "app")} == pids
    # the count set with `scale` survives the restart
    assert event_types(dd, "keep").count("ContainerAdopted") == 3


def test_deploy_rejects_bad_specs_with_positions(dd, down):
    path = dd.specdir / "bad.yaml"
    path.write_text("version: v1\ndeployment: bad\nservices:\n  a:\n    image: { name: x }\n    bogus: 1\n")
    r = dd.cli("deploy", str(path))
    assert r.returncode == 1 and "bad.yaml:6:5" in r.stderr and "bogus" in r.stderr, show(r)


def test_info_says_what_the_daemon_runs_with(dd):
    r = dd.cli("info", "--json")
    assert r.returncode == 0, show(r, dd)
    info = json.loads(r.stdout)
    assert info["root_dir"] == str(dd.root) and info["runtime_dir"] == str(dd.rundir), info
    assert info["runtime"]["runtime"].endswith(("runc", "crun")) and info["runtime"]["cgroups"] in ("v1", "hybrid", "v2")
    assert info["runtime"]["shim"].endswith("zlayer-shim") and info["runtime"]["wasm_runtime"].endswith("zlayer-wasm")
    assert info["counts"]["images"] >= 1, info
    r = dd.cli("info")
    assert r.returncode == 0 and "OCI runtime:" in r.stdout and "Deployments:" in r.stdout, show(r)
