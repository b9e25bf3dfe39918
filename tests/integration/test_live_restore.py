"""Live restore: the agent restarted — killed with SIGKILL or stopped with
SIGTERM — never stops or restarts a container. With 20 running containers
(16 replicas of a deployment, health-checked ones among them, and plain
`run -d` ones, one writing a numbered line every 50 ms), 2 exited, 1
created, 1 replica in CrashLoopBackOff, a cron and a running job: after the
restart every container keeps its state, pid and log; a replica that exited
while the agent was away gets its restart policy applied exactly once; the
crash loop goes on at its pace; health checks, the cron and the job
bookkeeping resume; what belongs to no container (network namespaces,
address allocations, overlay mounts, bundles, cgroups, runtime state) is
gone. One daemon for the module; the stories share one scene and run in
order; the last takes everything down and checks that nothing is left."""
import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

from deploykit import show, wait_for

HELPER = "zl-testhelper"
# The helper under a name of its own: other suites' cleanup kills every
# process named zl-testhelper on the node.
OWN_HELPER = f"cp /usr/bin/{HELPER} /tmp/lrhelper && exec /tmp/lrhelper"
# crash loop after 2 restarts within 60 s, then 4 s between restarts
CRASH_DELAY = 4
DAEMON_CONFIG = {"crashloop_window": "60s", "crashloop_restarts": 2, "crashloop_delay": f"{CRASH_DELAY}s"}
SFX = os.urandom(2).hex()
DEP = f"lr{SFX}"
WEB, DB, WK, CRASH, TICK, SLOW, GIVEUP, DONE = (
    f"{x}{SFX}" for x in ("lrweb", "lrdb", "lrwk", "lrcrash", "lrtick", "lrslow", "lrgive", "lrdone"))
REPLICAS = {WEB: 4, DB: 4, WK: 8}
LOGGER = f"lrlog{SFX}"
PLAIN = [f"lrp{SFX}-{i}" for i in range(3)]
EXITED = {f"lrx{SFX}-7": 7, f"lrx{SFX}-0": 0}
CREATED = f"lrc{SFX}"
CGROUP_ROOT = "/sys/fs/cgroup"
# Daemons of other suites on this node share the bridge and 10.88.0.0/16,
# each with its own address book, from 10.88.0.2 up: ours start elsewhere.
NET_BLOCK = 100 + int(SFX, 16) % 150


# --- helpers -------------------------------------------------------------------------------

def ok(d, *args, timeout=90):
    r = d.cli(*args, timeout=timeout)
    assert r.returncode == 0, show(r, d)
    return r


def jcli(d, *args):
    return json.loads(ok(d, *args).stdout)


def status(d):
    return jcli(d, "status", "--json", DEP)


def replicas(d):
    """replica id -> its status object, for every service."""
    return {r["id"]: r for s in status(d)["services"].values() for r in s["replicas"]}


def inspect(d, cid):
    data = jcli(d, "inspect", cid)
    return data[0] if isinstance(data, list) else data


def ps_all(d):
    data = jcli(d, "ps", "-a", "--json")
    ids = [c["id"] for c in data]
    assert len(ids) == len(set(ids)), f"ps lists a container twice: {sorted(ids)}"
    return {c["id"]: c for c in data}


def events(d):
    r = ok(d, "events", "--json", "--no-follow", DEP)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def executions(d, job):
    return jcli(d, "job", "ls", "--json", job)["executions"]


def execution(d, eid):
    return jcli(d, "job", "status", "--json", eid)


def wait_execution(d, eid, want, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        e = execution(d, eid)
        if e["status"] == want:
            return e
        if time.monotonic() > deadline:
            pytest.fail(f"{eid} not {want} after {timeout}s: {e}\n{d.log_tail(30)}")
        time.sleep(0.2)


def wait_healthy(d, timeout):
    """Every health-checked replica healthy."""
    deadline = time.monotonic() + timeout
    while True:
        reps = [r for r in replicas(d).values() if r["id"].startswith((WEB, DB))]
        if all(r["state"] == "running" and r["health"]["status"] == "healthy" for r in reps):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not all healthy after {timeout}s: {[(r['id'], r['state'], r['health']) for r in reps]}"
                        f"\n{d.log_tail(30)}")
        time.sleep(0.3)


def numbered(d):
    """The logger's numbers, in log order."""
    out = ok(d, "logs", LOGGER).stdout
    return [int(line.split()[1]) for line in out.splitlines() if line.startswith("n ")]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def mounted(path):
    path = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def cgroup_dirs(name):
    """Every /sys/fs/cgroup/*/zlayer/NAME that exists."""
    found = []
    for h in sorted(os.listdir(CGROUP_ROOT)):
        p = os.path.join(CGROUP_ROOT, h, "zlayer", name)
        if os.path.isdir(p):
            found.append(p)
    return found


def settle(what_is_left, timeout):
    """Wait until what_is_left() is empty, at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while what_is_left() and time.monotonic() < deadline:
        time.sleep(0.2)


def snapshot(d):
    """id -> (state, pid, exit_code) of every container, and the replicas."""
    return {cid: (c["state"], c["pid"], c.get("exit_code")) for cid, c in ps_all(d).items()}, replicas(d)


def spec_text(d):
    return textwrap.dedent(f"""\
    version: v1
    deployment: {DEP}
    services:
      {WEB}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "{OWN_HELPER} http 8080"] }}
        scale: {{ mode: fixed, replicas: {REPLICAS[WEB]} }}
        health: {{ check: {{ type: http, url: "http://localhost:8080/" }}, interval: 1s, start_grace: 0s }}
        stop_grace_period: 1s
      {DB}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "{OWN_HELPER} tcp 5432"] }}
        scale: {{ mode: fixed, replicas: {REPLICAS[DB]} }}
        health: {{ check: {{ type: tcp, port: 5432 }}, interval: 1s, start_grace: 0s }}
        stop_grace_period: 1s
      {WK}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "{OWN_HELPER} signals"] }}
        scale: {{ mode: fixed, replicas: {REPLICAS[WK]} }}
        stop_grace_period: 1s
      {CRASH}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "exit 3"] }}
      {GIVEUP}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "exit 4"] }}
        restart_policy: {{ kind: on_failure, max_attempts: 1 }}
      {DONE}:
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["true"] }}
      {TICK}:
        rtype: cron
        schedule: "*/2 * * * * *"
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["true"] }}
      {SLOW}:
        rtype: job
        image: {{ name: "{d.image}" }}
        command: {{ entrypoint: ["sh", "-c", "echo slow start; sleep 9; echo slow done"] }}
    """)


# --- the scene ------------------------------------------------------------------------------

class Scene:
    def __init__(self, d):
        self.d = d
        self.ids = [LOGGER, *PLAIN, *EXITED, CREATED]
        self.replica_ids = [f"{s}-rep-{n}" for s, k in REPLICAS.items() for n in range(1, k + 1)]
        self.crash_id = f"{CRASH}-rep-1"
        # replicas whose policy is done with them: failed (no restart left), completed
        self.settled = {f"{GIVEUP}-rep-1": ("failed", 4, 1), f"{DONE}-rep-1": ("completed", 0, 0)}

    def all_ids(self):
        return self.ids + self.replica_ids + [self.crash_id] + list(self.settled)


@pytest.fixture(scope="module")
def scene(dd):
    d = dd
    d.env["ZLAYER_LOG_LEVEL"] = "info"  # from the next start on: orphans are logged at info
    s = Scene(d)
    d.created.update(s.all_ids())
    netdir = d.root / "cni" / "networks" / "zlayer"
    netdir.mkdir(parents=True, exist_ok=True)
    (netdir / "last_reserved_ip.0").write_text(f"10.88.{NET_BLOCK}.1")
    path = d.specdir / f"{DEP}.yaml"
    path.write_text(spec_text(d))
    r = d.cli("deploy", str(path), timeout=180)
    try:
        # the deploy reports the replica out of restarts; the rest come up
        assert r.returncode == 0 or "exited with 4" in r.stderr, show(r, d)
        wait_for("replicas running", lambda: all(replicas(d).get(rid, {}).get("state") == "running"
                                                 for rid in s.replica_ids), timeout=60)
        ok(d, "run", "-d", "--name", LOGGER, d.image, "sh", "-c",
           'i=0; while true; do echo "n $i"; i=$((i+1)); sleep 0.05; done')
        for p in PLAIN:
            ok(d, "run", "-d", "--name", p, d.image, "sh", "-c", f"{OWN_HELPER} signals")
        for x, code in EXITED.items():
            ok(d, "run", "-d", "--name", x, d.image, HELPER, "exit", str(code))
        ok(d, "create", "--name", CREATED, d.image, HELPER, "signals")
        for x, code in EXITED.items():
            assert d.cli("wait", x).stdout.strip() == str(code)
        wait_for("settled", lambda: all(replicas(d)[rid]["state"] == st for rid, (st, _, _) in s.settled.items()),
                 timeout=30)
        wait_for("CrashLoopBackOff", lambda: any(e["type"] == "CrashLoopBackOff" for e in events(d)), timeout=30)
        wait_healthy(d, 60)
        yield s
    finally:
        d.cli("down", DEP, timeout=180)
        d.cli("rm", "-f", *s.ids, timeout=120)


def restart_agent(d, how, during_gap=None):
    """Stop the agent (SIGKILL or SIGTERM), run during_gap() while it is
    away, let a second pass, start it again. -> (t_stop_ns, t_start_ns)."""
    if how == "kill":
        d.kill9()
    else:
        assert d.stop() == 0
    t_stop = time.time_ns()
    if during_gap:
        during_gap()
    time.sleep(max(0.0, 1.2 - (time.time_ns() - t_stop) / 1e9))
    t_start = time.time_ns()
    t0 = time.monotonic()
    d.start()
    wait_for("deployment restored", lambda: d.cli("status", "--json", DEP).returncode == 0, timeout=20)
    return t_stop, t_start, time.monotonic() - t0


def check_restore(d, s, how, gap_victim):
    """The whole story around one restart of the agent."""
    before_ps, before_reps = snapshot(d)
    for cid in s.all_ids():
        assert cid in before_ps, (cid, sorted(before_ps))
    assert before_ps[CREATED][0] == "created", before_ps[CREATED]
    for x, code in EXITED.items():
        assert before_ps[x][0] == "exited" and before_ps[x][2] == code, before_ps[x]
    running = [cid for cid, (st, _, _) in before_ps.items() if st == "running" and cid in s.all_ids()]
    assert len(running) >= 20, sorted(running)
    crash_before = before_reps[s.crash_id]
    assert crash_before["state"] in ("backoff", "creating", "running"), crash_before
    victim_before = before_reps[gap_victim]
    assert victim_before["state"] == "running", victim_before
    ticks_before = {e["id"] for e in executions(d, TICK)}
    health_before = {cid: inspect(d, cid)["health"]["checks"] for cid in (f"{WEB}-rep-1", f"{DB}-rep-1")}
    assert all(n >= 1 for n in health_before.values()), health_before
    numbers_before = numbered(d)

    def gap():
        os.kill(victim_before["pid"], signal.SIGKILL)
        wait_for("the victim dead", lambda: not alive(victim_before["pid"]), timeout=5)

    t_stop, t_start, took = restart_agent(d, how, gap)
    assert took < 10, took

    # the one that exited while the agent was away: restarted exactly once
    def victim_back():
        r = replicas(d)[gap_victim]
        return r["state"] == "running" and r["pid"] != victim_before["pid"] and r
    v = wait_for(f"{gap_victim} restarted", victim_back, timeout=20)
    assert v["restarts"] == victim_before["restarts"] + 1, (victim_before, v)

    # everything else: same state, same pid, same exit code
    after_ps, after_reps = snapshot(d)
    for cid, (st, pid, code) in before_ps.items():
        if cid not in s.all_ids() or cid in (gap_victim, s.crash_id):
            continue
        assert cid in after_ps, f"{cid} is gone after the restart"
        assert after_ps[cid][0] == st, (cid, before_ps[cid], after_ps[cid])
        if st == "running":
            assert after_ps[cid][1] == pid, (cid, before_ps[cid], after_ps[cid])
        if st == "exited":
            assert after_ps[cid][2] == code, (cid, before_ps[cid], after_ps[cid])
    for rid in s.replica_ids:
        if rid != gap_victim:
            assert after_reps[rid]["state"] == "running", after_reps[rid]
            assert after_reps[rid]["pid"] == before_reps[rid]["pid"], (before_reps[rid], after_reps[rid])
            assert after_reps[rid]["restarts"] == before_reps[rid]["restarts"], (before_reps[rid], after_reps[rid])
    assert after_ps[CREATED][0] == "created"
    for rid, (st, code, restarts) in s.settled.items():
        r = after_reps[rid]
        assert (r["state"], r.get("exit_code"), r["restarts"]) == (st, code, restarts), r

    # the crash loop goes on at its pace: no burst of restarts, its count kept
    time.sleep(2.5)
    evs = events(d)
    crash_restarts = [e for e in evs if e["type"] == "ContainerRestarted" and e.get("replica") == s.crash_id]
    assert len(crash_restarts) <= 1, crash_restarts
    crash_after = replicas(d)[s.crash_id]
    assert crash_after["state"] in ("backoff", "creating", "running"), crash_after
    assert crash_before["restarts"] <= crash_after["restarts"] <= crash_before["restarts"] + 1, \
        (crash_before, crash_after)
    assert sum(1 for e in evs if e["type"] == "ContainerRestarted" and e.get("replica") == gap_victim) == 1, evs
    restarted = {e["replica"] for e in evs if e["type"] == "ContainerRestarted"}
    assert restarted <= {gap_victim, s.crash_id}, restarted
    adopted = [e["replica"] for e in evs if e["type"] == "ContainerAdopted"]
    assert sorted(adopted) == sorted(s.replica_ids + [s.crash_id] + list(s.settled)), adopted
    assert not [e for e in evs if e.get("replica") in s.settled and e["type"] != "ContainerAdopted"], evs
    assert replicas(d)[gap_victim]["restarts"] == victim_before["restarts"] + 1

    # health checks resume, and go on counting
    for cid in health_before:
        first = wait_for(f"{cid} checked again", lambda: inspect(d, cid)["health"]["checks"] >= 1 and
                         inspect(d, cid)["health"], timeout=10)
        assert first["status"] == "healthy", (cid, first)
        wait_for(f"{cid} checked on", lambda: inspect(d, cid)["health"]["checks"] > first["checks"], timeout=10)
    wait_healthy(d, 30)

    # the cron fires again, nothing caught up, nothing twice
    def new_ticks():
        ex = [e for e in executions(d, TICK) if e["id"] not in ticks_before]
        return len(ex) >= 2 and ex
    ex = wait_for("the cron again", new_ticks, timeout=30, interval=0.3)
    for e in ex:
        assert e["trigger"] == "schedule", e
        assert e["created_ns"] >= t_start, (e, t_stop, t_start)
    secs = [e["created_ns"] // 1_000_000_000 for e in ex]
    assert len(secs) == len(set(secs)), ex
    assert all(e["id"] in {x["id"] for x in executions(d, TICK)} for e in ex)

    # the log has every number once, in order, those written in the gap too
    def grown():
        n = numbered(d)
        return len(n) > len(numbers_before) + 30 and n
    nums = wait_for("the log grows", grown, timeout=10)
    assert nums == list(range(len(nums))), [n for i, n in enumerate(nums) if n != i][:5]
    assert nums[:len(numbers_before)] == numbers_before
    ps_all(d)  # no duplicates
    return t_stop, t_start


# --- the stories ----------------------------------------------------------------------------

def test_sigkill_keeps_every_container_and_applies_the_policy_once(dd, scene):
    ok(dd, "job", "run", SLOW)
    wait_execution(dd, f"{SLOW}-run-1", "running")
    check_restore(dd, scene, "kill", f"{WEB}-rep-2")
    # the job started before the restart: adopted, it completes with its log
    wait_execution(dd, f"{SLOW}-run-1", "completed")
    assert ok(dd, "job", "logs", f"{SLOW}-run-1").stdout == "slow start\nslow done\n"
    assert "JobAdopted" in {e["type"] for e in events(dd)}


def test_sigterm_keeps_every_container_too(dd, scene):
    ok(dd, "job", "run", SLOW)
    wait_execution(dd, f"{SLOW}-run-2", "running")
    check_restore(dd, scene, "term", f"{DB}-rep-3")
    wait_execution(dd, f"{SLOW}-run-2", "completed")
    assert ok(dd, "job", "logs", f"{SLOW}-run-2").stdout == "slow start\nslow done\n"
    e1 = execution(dd, f"{SLOW}-run-1")
    assert e1["status"] == "completed" and e1["exit_code"] == 0, e1


# --- orphans --------------------------------------------------------------------------------

class Orphans:
    """Remains of containers the agent has no record of, planted while it
    is away: a container whose record was lost (all of its parts at once)
    and one part of each kind on its own."""

    def __init__(self, d, tmp):
        self.d, self.tmp = d, tmp
        self.lost = f"lrlost{SFX}"
        self.ns = f"lrons{SFX}"
        self.ovl = f"lroovl{SFX}"
        self.cg = f"lrocg{SFX}"
        self.busy = f"lrobusy{SFX}"
        self.alloc = f"lroalloc{SFX}"
        self.alloc_ip = None
        self.lost_ip = None
        self.busy_proc = None
        d.created.update({self.lost, self.ns, self.ovl, self.cg, self.alloc})

    def before(self):
        """The container that will lose its record, up and on the network."""
        d = self.d
        ok(d, "run", "-d", "--name", self.lost, d.image, "sh", "-c", f"{OWN_HELPER} signals")
        info = inspect(d, self.lost)
        self.lost_ip = info["ip"]
        assert self.lost_ip
        d.ips.add(self.lost_ip)
        self.lost_pids = (info["pid"], info["shim_pid"])

    def plant(self):
        d = self.d
        # the lost record: its processes die, its record goes
        for pid in self.lost_pids:
            os.kill(pid, signal.SIGKILL)
        wait_for("lost container dead", lambda: not any(alive(p) for p in self.lost_pids), timeout=5)
        subprocess.run(["rm", "-rf", str(d.root / "containers" / self.lost)], check=True)
        # a network namespace
        nsfile = os.path.join(d.rundir, "netns", self.ns)
        open(nsfile, "w").close()
        subprocess.run(["unshare", f"--net={nsfile}", "true"], check=True)
        assert mounted(nsfile)
        # an overlay mount with its bundle directory
        base = self.tmp / "ovl"
        for sub in ("lower", "upper", "work"):
            (base / sub).mkdir(parents=True)
        (base / "lower" / "hello").write_text("hi\n")
        rootfs = os.path.join(d.rundir, "containers", self.ovl, "rootfs")
        os.makedirs(rootfs)
        open(os.path.join(d.rundir, "containers", self.ovl, "config.json"), "w").close()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work", rootfs], check=True)
        # an empty cgroup in every hierarchy, and a busy one that must stay
        for h in os.listdir(CGROUP_ROOT):
            parent = os.path.join(CGROUP_ROOT, h, "zlayer")
            if os.path.isdir(parent):
                os.mkdir(os.path.join(parent, self.cg))
        self.busy_cg = os.path.join(CGROUP_ROOT, "pids", "zlayer", self.busy)
        os.mkdir(self.busy_cg)
        self.busy_proc = subprocess.Popen(["sleep", "300"])
        with open(os.path.join(self.busy_cg, "cgroup.procs"), "w") as f:
            f.write(str(self.busy_proc.pid))
        # an address allocated to nobody
        netdir = d.root / "cni" / "networks" / "zlayer"
        used = set(os.listdir(netdir))
        self.alloc_ip = next(f"10.88.{NET_BLOCK}.{i}" for i in range(250, 2, -1)
                             if f"10.88.{NET_BLOCK}.{i}" not in used)
        (netdir / self.alloc_ip).write_text(f"{self.alloc}\r\neth0")

    def gone(self):
        d = self.d
        left = []
        netdir = d.root / "cni" / "networks" / "zlayer"
        for ip in (self.alloc_ip, self.lost_ip):
            if (netdir / ip).exists():
                left.append(f"allocation {ip}")
        if (d.root / "cni" / "cache" / "zlayer" / f"{self.lost}.json").exists():
            left.append("cni cache of the lost container")
        for name in (self.ns, self.lost):
            if os.path.exists(os.path.join(d.rundir, "netns", name)):
                left.append(f"netns {name}")
        for name in (self.ovl, self.lost):
            p = os.path.join(d.rundir, "containers", name)
            if os.path.exists(p) or mounted(os.path.join(p, "rootfs")):
                left.append(f"bundle {name}")
        if os.path.exists(os.path.join(d.rundir, "runc", self.lost)):
            left.append("runc state of the lost container")
        left += [f"cgroup {p}" for n in (self.cg, self.lost) for p in cgroup_dirs(n)]
        return left

    def cleanup(self):
        if self.busy_proc:
            self.busy_proc.kill()
            self.busy_proc.wait()
            for _ in range(50):
                try:
                    os.rmdir(self.busy_cg)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        for n in (self.cg, self.lost):
            for p in cgroup_dirs(n):
                try:
                    os.rmdir(p)
                except OSError:
                    pass


def live_parts(d, ids):
    """What a live container holds: its netns mount, rootfs mount, cgroups."""
    parts = {}
    for cid in ids:
        parts[cid] = (mounted(os.path.join(d.rundir, "netns", cid)),
                      mounted(os.path.join(d.rundir, "containers", cid, "rootfs")),
                      tuple(cgroup_dirs(cid)))
    return parts


def test_orphans_are_swept_at_start_and_live_containers_untouched(dd, scene, tmp_path):
    o = Orphans(dd, tmp_path)
    try:
        o.before()
        running = [cid for cid, c in ps_all(dd).items() if c["state"] == "running" and cid in scene.all_ids()]
        parts = live_parts(dd, running)
        assert all(p[0] and p[1] and p[2] for p in parts.values()), parts
        pids = {cid: c["pid"] for cid, c in ps_all(dd).items() if cid in running}

        dd.kill9()
        o.plant()
        assert len(o.gone()) >= 8, o.gone()
        t0 = time.monotonic()
        dd.start()
        settle(o.gone, 15)
        assert o.gone() == []
        took = time.monotonic() - t0
        assert took < 10, took
        # the busy cgroup of nobody we know stays
        assert os.path.isdir(o.busy_cg)
        # one line per orphan removed (the cgroup is node-wide: any agent
        # starting meanwhile may have swept it first)
        def unlogged():
            with open(dd.log, errors="replace") as f:
                log = "".join(line for line in f if "which has no record" in line)
            return [n for n in (o.ns, o.ovl, o.alloc, o.lost) if n not in log] and log
        settle(unlogged, 5)
        assert not unlogged(), unlogged()
        with open(dd.log, errors="replace") as f:
            assert o.busy not in f.read()
        # live containers: untouched
        assert live_parts(dd, running) == parts
        now = {cid: c["pid"] for cid, c in ps_all(dd).items() if cid in running}
        assert now == pids
        assert o.lost not in ps_all(dd)
        wait_healthy(dd, 30)
    finally:
        o.cleanup()


def test_zz_everything_removed_leaves_nothing(dd, scene):
    r = dd.cli("down", DEP, timeout=180)
    assert r.returncode == 0, show(r, dd)
    r = dd.cli("rm", "-f", *scene.ids, timeout=120)
    assert r.returncode == 0, show(r, dd)
    left = {cid for cid in ps_all(dd) if SFX in cid}
    assert not left, left
    settle(lambda: our_leftovers(dd), 15)
    assert our_leftovers(dd) == []


def our_leftovers(d):
    """dd.leftovers() less the test helpers of other daemons on this node
    (other suites run zl-testhelper in their own containers)."""
    left = []
    for line in d.leftovers():
        if line.startswith("process ") and HELPER in line:
            pid = line.split()[1].rstrip(":")
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    cg = f.read()
            except OSError:
                continue
            if SFX not in cg:
                continue
        left.append(line)
    return left
