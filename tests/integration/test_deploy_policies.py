"""Service manager policies, timed: `errors.on_init_failure` (restart: the
whole step list again up to 3 more times; backoff: 3 retries after 1 s, 2 s
and 4 s; fail: at once), health `retries` (unhealthy only after that many
consecutive failures, healthy again after one success), and a cron firing
within a second of its scheduled time. One agent daemon for the module,
the zl-test image loaded; every story takes its deployment down."""
import calendar
import json
import time


from deploykit import show, spec, wait_for

HELPER = "zl-testhelper"


def deploy(d, down, name, services):
    down.append(name)
    return d.cli("deploy", str(spec(d, name, services)), timeout=120)


def status(d, name):
    r = d.cli("status", "--json", name)
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)


def replica(d, name, service):
    return status(d, name)["services"][service]["replicas"][0]


def events(d, name):
    r = d.cli("events", "--json", "--no-follow", name)
    assert r.returncode == 0, show(r, d)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def event_ns(e):
    """An event's "time" (2024-05-01T12:00:00.123456789Z) in ns since the epoch."""
    t = e["time"]
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000 + int(t[20:29])


# --- errors.on_init_failure ------------------------------------------------------------------

def init_service(name, hostdir, action, succeed_at):
    """A service NAME whose one init.run step records each attempt (the host's
    uptime, shared by containers) in HOSTDIR/attempts and fails until the
    SUCCEED_AT-th attempt (0: never)."""
    check = f'test "$(wc -l < /host/attempts)" -ge {succeed_at}' if succeed_at else "false"
    return f"""
    {name}:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      storage: [{{ type: bind, source: "{hostdir}", target: /host }}]
      init:
        steps:
          - id: flaky
            uses: init.run
            with:
              command: 'cut -d" " -f1 /proc/uptime >> /host/attempts; {check}'
      errors: {{ on_init_failure: {{ action: {action} }} }}
      stop_grace_period: 1s
    """


def attempts(hostdir):
    path = hostdir / "attempts"
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def test_init_failure_restart_runs_the_step_list_again(dd, down, tmp_path):
    # fails twice, then succeeds: the replica starts
    ok_dir = tmp_path / "ok"
    ok_dir.mkdir()
    r = deploy(dd, down, "init-restart", init_service("restart-ok", ok_dir, "restart", 3))
    assert r.returncode == 0, show(r, dd)
    assert len(attempts(ok_dir)) == 3
    rep = replica(dd, "init-restart", "restart-ok")
    assert rep["state"] == "running" and rep["pid"] > 0, rep
    assert "InitFailed" not in {e["type"] for e in events(dd, "init-restart")}

    # never succeeds: 1 + 3 attempts, then the replica fails
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    r = deploy(dd, down, "init-restart-bad", init_service("restart-bad", bad_dir, "restart", 0))
    assert r.returncode == 1, show(r, dd)
    assert "init step 'flaky'" in r.stderr and "(after 4 attempts)" in r.stderr, show(r)
    assert len(attempts(bad_dir)) == 4
    assert replica(dd, "init-restart-bad", "restart-bad")["state"] == "failed"
    assert "InitFailed" in {e["type"] for e in events(dd, "init-restart-bad")}


def test_init_failure_backoff_waits_1_2_4_seconds(dd, down, tmp_path):
    r = deploy(dd, down, "init-backoff", init_service("backoff", tmp_path, "backoff", 4))
    assert r.returncode == 0, show(r, dd)
    at = attempts(tmp_path)
    assert len(at) == 4, at
    gaps = [b - a for a, b in zip(at, at[1:])]
    # each retry waits its delay after the failed attempt ended: at least
    # the delay between attempt starts, plus one init container's run
    for gap, delay in zip(gaps, (1, 2, 4)):
        assert delay - 0.05 <= gap < delay + 3, gaps
    assert at[-1] - at[0] >= 7 - 0.15, gaps
    assert replica(dd, "init-backoff", "backoff")["state"] == "running"


def test_init_failure_fail_fails_at_once(dd, down, tmp_path):
    t0 = time.monotonic()
    r = deploy(dd, down, "init-fail", init_service("fail", tmp_path, "fail", 0))
    took = time.monotonic() - t0
    assert r.returncode == 1, show(r, dd)
    assert "init step 'flaky'" in r.stderr and "after" not in r.stderr.split("init step")[1], show(r)
    assert len(attempts(tmp_path)) == 1
    assert took < 10, took
    assert replica(dd, "init-fail", "fail")["state"] == "failed"


# --- health retries -------------------------------------------------------------------------

def test_health_unhealthy_after_retries_failures_and_healthy_after_one_success(dd, down):
    r = deploy(dd, down, "health-retries", f"""
    app:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["sh", "-c", "touch /tmp/ok; exec {HELPER} signals"] }}
      health:
        check: {{ type: command, command: "test -e /tmp/ok" }}
        interval: 500ms
        retries: 3
        start_grace: 0s
      stop_grace_period: 1s
    """)
    assert r.returncode == 0, show(r, dd)
    health = lambda: replica(dd, "health-retries", "app")["health"]  # noqa: E731
    wait_for("healthy", lambda: health()["status"] == "healthy")

    r = dd.cli("exec", "app-rep-1", "rm", "/tmp/ok")
    assert r.returncode == 0, show(r, dd)
    t_rm = time.monotonic()
    seen = []  # (status, failures) while failing

    def unhealthy():
        h = health()
        seen.append((h["status"], h["failures"]))
        return h["status"] == "unhealthy" and h
    h = wait_for("unhealthy", unhealthy, timeout=15, interval=0.05)
    took = time.monotonic() - t_rm
    assert h["failures"] >= 3, h
    # still healthy with 1 and 2 failures; unhealthy at the third (the event says exactly)
    assert {f for s, f in seen if s == "healthy"} <= {0, 1, 2}, seen
    assert any(s == "healthy" and f in (1, 2) for s, f in seen), seen
    assert all(f >= 3 for s, f in seen if s == "unhealthy"), seen
    assert took >= 0.9, took  # three checks 500 ms apart
    ev = [e for e in events(dd, "health-retries") if e["type"] == "HealthUnhealthy"]
    assert len(ev) == 1 and "after 3 failed checks" in ev[0]["message"], ev

    r = dd.cli("exec", "app-rep-1", "touch", "/tmp/ok")
    assert r.returncode == 0, show(r, dd)
    t_touch = time.monotonic()
    seen = []

    def healthy_again():
        h = health()
        seen.append((h["status"], h["failures"]))
        return h["status"] == "healthy" and h
    h = wait_for("healthy again", healthy_again, timeout=10, interval=0.05)
    assert h["failures"] == 0, h
    # one success is enough: it resets the count and flips the status at once
    assert ("unhealthy", 0) not in seen, seen
    assert time.monotonic() - t_touch < 5
    types = [e["type"] for e in events(dd, "health-retries") if e["type"].startswith("Health")]
    assert types == ["HealthHealthy", "HealthUnhealthy", "HealthHealthy"], types


def test_health_command_that_hangs_fails_at_its_timeout_and_is_killed(dd, down):
    r = deploy(dd, down, "health-hang", f"""
    hang:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      health:
        check: {{ type: command, command: "exec sleep 1000" }}
        timeout: 1s
        interval: 500ms
        retries: 1
        start_grace: 0s
      stop_grace_period: 1s
    """)
    assert r.returncode == 0, show(r, dd)
    health = lambda: replica(dd, "health-hang", "hang")["health"]  # noqa: E731
    h = wait_for("unhealthy", lambda: health()["status"] == "unhealthy" and health(), timeout=15)
    assert "timed out" in h.get("reason", ""), h
    # every timed-out check's command was killed: no sleeps pile up in the container
    time.sleep(2.5)
    procs = dd.cli("exec", "hang-rep-1", "sh", "-c",
                   "for p in /proc/[0-9]*; do cat $p/comm 2>/dev/null; done").stdout.split()
    assert procs.count("sleep") <= 1, procs


# --- cron timing ----------------------------------------------------------------------------

def test_cron_fires_within_a_second_of_its_time(dd, down):
    r = deploy(dd, down, "cron-timing", """
    every:
      rtype: cron
      schedule: "* * * * * *"
      concurrency: allow
      image: { name: "IMAGE" }
      command: { entrypoint: ["true"] }
    """)
    assert r.returncode == 0, show(r, dd)
    r = dd.cli("cron", "ls", "--json")
    assert r.returncode == 0, show(r, dd)
    first_due = next(c for c in json.loads(r.stdout) if c["name"] == "every")["next_run_ns"]
    assert first_due % 1_000_000_000 == 0, first_due

    def runs():
        r = dd.cli("job", "ls", "--json", "every")
        ex = [e for e in json.loads(r.stdout)["executions"] if e["created_ns"] >= first_due]
        return len(ex) >= 4 and all(e["started_ns"] for e in ex[:4]) and ex
    ex = sorted(wait_for("four scheduled runs", runs, timeout=20, interval=0.2), key=lambda e: e["created_ns"])[:4]
    r = dd.cli("down", "cron-timing", timeout=120)
    assert r.returncode == 0, show(r, dd)
    down.remove("cron-timing")

    started = {e["replica"]: event_ns(e) for e in events(dd, "cron-timing") if e["type"] == "JobStarted"}
    queued = {e["replica"]: event_ns(e) for e in events(dd, "cron-timing") if e["type"] == "JobQueued"}
    # every second's run, none skipped or doubled, the first the one cron ls announced
    due = [first_due + k * 1_000_000_000 for k in range(4)]
    assert [e["created_ns"] // 1_000_000_000 * 1_000_000_000 for e in ex] == due, (due, ex)
    for e, t in zip(ex, due):
        assert e["trigger"] == "schedule", e
        assert 0 <= e["created_ns"] - t < 1_000_000_000, (t, e)
        at = started.get(e["id"], queued.get(e["id"]))
        assert at is not None, (e, started, queued)
        assert 0 <= at - t < 1_000_000_000, (e["id"], (at - t) / 1e9)
