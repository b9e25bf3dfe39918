"""Jobs and crons stories: a deployment's `rtype: job` services run on
request (`zlayer-agent job run`), `rtype: cron` ones on their schedule;
each run is an execution JOB-run-N with a status, an exit code, a duration
and a log kept after its container is gone; failed attempts are retried up
to backoff_limit; at most 10 run at once on the node; a cron's concurrency
policy decides about overlaps; records survive a restart of the agent.
One agent daemon for the module, the zl-test image loaded; every story
takes its deployment down."""
import json
import os
import time


from deploykit import show, spec, wait_for


def deploy(d, down, name, services):
    down.append(name)
    r = d.cli("deploy", str(spec(d, name, services)), timeout=120)
    assert r.returncode == 0, show(r, d)


def execution(d, eid):
    r = d.cli("job", "status", "--json", eid)
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)


def executions(d, job):
    r = d.cli("job", "ls", "--json", job)
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)["executions"]


def events(d, name):
    r = d.cli("events", "--json", "--no-follow", name)
    assert r.returncode == 0, show(r, d)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def container_ids(d):
    r = d.cli("ps", "-a", "--json")
    assert r.returncode == 0, show(r, d)
    return {c["id"] for c in json.loads(r.stdout)}


def max_overlap(execs):
    """Most executions holding a slot at one time ([started, finished])."""
    points = []
    for e in execs:
        points += [(e["started_ns"], 1), (e["finished_ns"], -1)]
    n = best = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):
        n += step
        best = max(best, n)
    return best


def test_job_runs_to_completion_and_its_log_outlives_the_container(dd, down):
    deploy(dd, down, "jobs-basic", """
    hello:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo hello from the job; echo oops >&2; sleep 1"] }
    three:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo bad; exit 3"] }
    """)
    # registered, not run
    st = json.loads(dd.cli("status", "--json", "jobs-basic").stdout)
    assert st["services"]["hello"]["rtype"] == "job" and st["services"]["hello"]["replicas"] == []
    assert executions(dd, "hello") == []

    r = dd.cli("job", "run", "--wait", "hello")
    assert r.returncode == 0, show(r, dd)
    assert r.stdout.splitlines()[0] == "hello-run-1"
    e = execution(dd, "hello-run-1")
    assert e["status"] == "completed" and e["exit_code"] == 0 and e["attempts"] == 1, e
    assert 1.0 <= e["duration"] < 20, e
    assert e["started_at"] and e["finished_at"] and e["trigger"] == "manual"
    assert "hello-run-1" not in container_ids(dd)
    r = dd.cli("job", "logs", "hello-run-1")
    assert r.returncode == 0 and r.stdout == "hello from the job\n" and r.stderr == "oops\n", show(r)
    assert (dd.root / "jobs" / "hello" / "hello-run-1.log").is_file()
    assert {"JobStarted", "JobCompleted"} <= {x["type"] for x in events(dd, "jobs-basic")}

    # the job's exit code is the command's
    r = dd.cli("job", "run", "--wait", "three")
    assert r.returncode == 3, show(r, dd)
    e = execution(dd, "three-run-1")
    assert e["status"] == "failed" and e["exit_code"] == 3 and e["reason"] == "exited with 3", e
    r = dd.cli("job", "logs", "three-run-1")
    assert r.stdout == "bad\n", show(r)

    # API without waiting: 202 and the execution id, numbered per job
    r = dd.cli("job", "run", "hello")
    assert r.returncode == 0 and r.stdout.strip() == "hello-run-2", show(r, dd)
    wait_for("hello-run-2 done", lambda: execution(dd, "hello-run-2")["status"] == "completed")

    for args, msg in [(("job", "run", "nosuch"), "not-found: no such job 'nosuch'"),
                      (("job", "status", "hello-run-99"), "not-found: no such job execution 'hello-run-99'"),
                      (("job", "logs", "nosuch-run-1"), "no such job execution 'nosuch-run-1'"),
                      (("cron", "trigger", "hello"), "no such cron 'hello': it is a job"),
                      (("job", "ls", "nosuch"), "no such job 'nosuch'")]:
        r = dd.cli(*args)
        assert r.returncode == 1 and msg in r.stderr, show(r)

    # down: the jobs, their records and logs go
    r = dd.cli("down", "jobs-basic", timeout=120)
    assert r.returncode == 0, show(r, dd)
    down.remove("jobs-basic")
    assert dd.cli("job", "ls", "hello").returncode == 1
    wait_for("logs removed", lambda: not (dd.root / "jobs" / "hello").exists(), timeout=5)


def test_failing_job_is_retried_backoff_limit_times(dd, down):
    deploy(dd, down, "jobs-retry", """
    flaky:
      rtype: job
      backoff_limit: 2
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo attempt >> /scratch/n; cat /scratch/n | wc -l; exit 4"] }
      storage: [{ type: anonymous, target: /scratch }]
    """)
    r = dd.cli("job", "run", "--wait", "flaky")
    assert r.returncode == 4, show(r, dd)
    e = execution(dd, "flaky-run-1")
    assert e["status"] == "failed" and e["attempts"] == 3 and e["exit_code"] == 4, e
    assert "exited with 4" in e["reason"] and "attempt 3 of 3" in e["reason"], e
    types = [x["type"] for x in events(dd, "jobs-retry") if x.get("replica") == "flaky-run-1"]
    assert types.count("JobStarted") == 3 and types.count("JobRetrying") == 2, types
    assert types[-1] == "JobFailed", types
    # every attempt's output is kept; the anonymous volume lived across the
    # attempts (as a restarted container's does) and went with the execution
    assert [line.strip() for line in dd.cli("job", "logs", "flaky-run-1").stdout.splitlines()] == ["1", "2", "3"]
    assert "flaky-run-1" not in container_ids(dd)
    vols = dd.root / "volumes"
    assert not (vols.is_dir() and [v for v in os.listdir(vols) if v.startswith("flaky-")])


def test_cancel_a_running_job(dd, down):
    deploy(dd, down, "jobs-cancel", """
    long:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo started; exec sleep 60"] }
      stop_grace_period: 1s
    """)
    r = dd.cli("job", "run", "long")
    assert r.returncode == 0, show(r, dd)
    wait_for("running", lambda: execution(dd, "long-run-1")["status"] == "running")
    assert "long-run-1" in container_ids(dd)
    # a running one's log is its container's
    wait_for("live log", lambda: dd.cli("job", "logs", "long-run-1").stdout == "started\n")
    t0 = time.monotonic()
    r = dd.cli("job", "cancel", "long-run-1")
    assert r.returncode == 0 and r.stdout.strip() == "long-run-1 cancelled", show(r, dd)
    assert time.monotonic() - t0 < 15
    e = execution(dd, "long-run-1")
    assert e["status"] == "cancelled" and e["reason"] == "cancelled on request", e
    assert "long-run-1" not in container_ids(dd)
    assert dd.cli("job", "logs", "long-run-1").stdout == "started\n"
    # cancelling an ended one changes nothing
    r = dd.cli("job", "cancel", "long-run-1")
    assert r.returncode == 0 and "cancelled" in r.stdout, show(r)


def test_at_most_ten_run_at_once_and_all_complete(dd, down):
    deploy(dd, down, "jobs-many", """
    batch:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sleep", "2"] }
    """)
    for i in range(12):
        r = dd.cli("job", "run", "batch")
        assert r.returncode == 0 and r.stdout.strip() == f"batch-run-{i + 1}", show(r, dd)
    seen = []

    def all_done():
        ex = executions(dd, "batch")
        seen.append(sum(1 for e in ex if e["status"] in ("initializing", "running")))
        return len(ex) == 12 and all(e["status"] == "completed" for e in ex) and ex
    ex = wait_for("12 completed", all_done, timeout=60, interval=0.2)
    assert max(seen) <= 10, seen
    assert max_overlap(ex) == 10, ex
    # the last two waited for a slot
    first_end = min(e["finished_ns"] for e in ex)
    assert sum(1 for e in ex if e["started_ns"] >= first_end) == 2, ex
    assert "JobQueued" in {x["type"] for x in events(dd, "jobs-many")}


def test_cron_every_second_forbid_skips_overlaps(dd, down):
    deploy(dd, down, "crons-forbid", """
    tick:
      rtype: cron
      schedule: "* * * * * *"
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo tick; sleep 1.5"] }
      stop_grace_period: 1s
    yearly:
      rtype: cron
      schedule: "0 0 1 1 *"
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo triggered"] }
    """)
    def done_runs():
        ex = [e for e in executions(dd, "tick") if e["status"] == "completed"]
        return len(ex) >= 2 and ex
    wait_for("two scheduled runs", done_runs, timeout=20, interval=0.2)
    ex = executions(dd, "tick")
    assert all(e["trigger"] == "schedule" for e in ex), ex
    finished = [e for e in ex if e["finished_ns"]]
    assert max_overlap(finished) == 1, ex  # never two at once
    skipped = [x for x in events(dd, "crons-forbid") if x["type"] == "CronSkipped"]
    assert skipped and "concurrency: forbid" in skipped[0]["message"], skipped

    # trigger under forbid while one runs: refused (409)
    wait_for("a run active", lambda: any(e["status"] in ("initializing", "running")
                                         for e in executions(dd, "tick")))
    r = dd.cli("cron", "trigger", "tick")
    assert r.returncode == 1 and "is already running" in r.stderr and "concurrency is forbid" in r.stderr, \
        show(r, dd)

    # cron ls: schedule, last run and the next one (within seconds)
    r = dd.cli("cron", "ls", "--json")
    assert r.returncode == 0, show(r, dd)
    crons = {c["name"]: c for c in json.loads(r.stdout)}
    tick = crons["tick"]
    assert tick["schedule"] == "* * * * * *" and tick["concurrency"] == "forbid", tick
    assert tick["last_run"]["status"] in ("initializing", "running", "completed"), tick
    assert 0 <= tick["next_run_ns"] / 1e9 - time.time() < 3, tick
    assert crons["yearly"]["last_run"] is None and crons["yearly"]["next_run"].endswith("-01-01T00:00:00.000000000Z")
    r = dd.cli("cron", "ls")
    assert r.returncode == 0 and "tick" in r.stdout and "* * * * * *" in r.stdout, show(r)

    # trigger runs it now
    r = dd.cli("cron", "trigger", "--wait", "yearly")
    assert r.returncode == 0 and r.stdout.strip() == "yearly-run-1", show(r, dd)
    assert execution(dd, "yearly-run-1")["trigger"] == "manual"
    assert dd.cli("job", "logs", "yearly-run-1").stdout == "triggered\n"


def test_cron_allow_overlaps_and_replace_cancels(dd, down):
    deploy(dd, down, "crons-policies", """
    overlap:
      rtype: cron
      schedule: "* * * * * *"
      concurrency: allow
      image: { name: "IMAGE" }
      command: { entrypoint: ["sleep", "2.5"] }
    newest:
      rtype: cron
      schedule: "* * * * * *"
      concurrency: replace
      image: { name: "IMAGE" }
      command: { entrypoint: ["sleep", "60"] }
      stop_grace_period: 1s
    """)
    wait_for("two overlapping runs", lambda: sum(1 for e in executions(dd, "overlap")
                                                 if e["status"] in ("initializing", "running")) >= 2,
             timeout=20, interval=0.2)
    wait_for("a replaced run", lambda: any(e["status"] == "cancelled" for e in executions(dd, "newest")),
             timeout=20, interval=0.2)
    cancelled = [e for e in executions(dd, "newest") if e["status"] == "cancelled"]
    assert "concurrency: replace" in cancelled[0]["reason"], cancelled
    assert "CronReplaced" in {x["type"] for x in events(dd, "crons-policies")}
    r = dd.cli("down", "crons-policies", timeout=120)
    assert r.returncode == 0, show(r, dd)
    down.remove("crons-policies")
    left = {c for c in container_ids(dd) if c.startswith(("overlap-run-", "newest-run-"))}
    assert not left, left


def test_execution_records_survive_a_restart(dd, down):
    deploy(dd, down, "jobs-restart", """
    quick:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo quick; exit 5"] }
    slow:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "echo slow; sleep 4; echo done"] }
    brief:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "sleep 1; echo brief"] }
    """)
    assert dd.cli("job", "run", "--wait", "quick").returncode == 5
    assert dd.cli("job", "run", "slow").returncode == 0
    assert dd.cli("job", "run", "brief").returncode == 0
    wait_for("both running", lambda: execution(dd, "slow-run-1")["status"] == "running" and
             execution(dd, "brief-run-1")["status"] == "running")
    dd.kill9()
    time.sleep(1.5)  # brief exits while the agent is away
    dd.start()
    wait_for("restored", lambda: dd.cli("job", "status", "quick-run-1").returncode == 0)
    e = execution(dd, "quick-run-1")
    assert e["status"] == "failed" and e["exit_code"] == 5, e
    # exited while away: settled with its outcome and log
    wait_for("brief settled", lambda: execution(dd, "brief-run-1")["status"] == "completed")
    assert dd.cli("job", "logs", "brief-run-1").stdout == "brief\n"
    # still running: adopted, its exit arrives as usual
    assert execution(dd, "slow-run-1")["status"] in ("running", "completed")
    wait_for("slow completed", lambda: execution(dd, "slow-run-1")["status"] == "completed", timeout=20)
    assert dd.cli("job", "logs", "slow-run-1").stdout == "slow\ndone\n"
    assert "JobAdopted" in {x["type"] for x in events(dd, "jobs-restart")}
    # numbering continues
    r = dd.cli("job", "run", "quick")
    assert r.stdout.strip() == "quick-run-2", show(r, dd)
