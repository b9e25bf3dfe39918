"""Container networking through the CNI plugins (loopback, bridge + host-local,
portmap), driven through the test-only tests/tools/net-tool, as root.

Every test gets its own network (name, bridge, /24 subnet, state under
tmp_path); the fixtures remove every namespace, server, veth, bridge and
iptables rule they made, even when the test fails. Traffic stays on the host:
loopback, the host's own addresses and the namespaces made here."""
import ipaddress
import json
import os
import pathlib
import random
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN_DIR = "/usr/lib/cni"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, iptables)"),
    pytest.mark.skipif(not all(os.access(f"{PLUGIN_DIR}/{p}", os.X_OK)
                               for p in ("bridge", "host-local", "portmap", "loopback")),
                       reason="containernetworking-plugins not installed"),
    pytest.mark.skipif(not shutil.which("iptables-save"), reason="iptables not installed"),
]


def net_tool_path():
    if os.environ.get("ZLAYER_NET_TOOL"):
        return os.environ["ZLAYER_NET_TOOL"]
    agent = os.environ.get("ZLAYER_AGENT", str(ROOT / "build" / "zlayer-agent"))
    return str(pathlib.Path(agent).parent / "tests" / "tools" / "net-tool")


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check, timeout=60)


def nat_lines():
    return sh("iptables-save", "-t", "nat").stdout.splitlines()


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def pick_subnet():
    routes = sh("ip", "-4", "route", "show", "table", "all").stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "prohibit", "blackhole"):
            word = line.split()[1]
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            pass
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(200, 254)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    pytest.skip("no free /24 for the test network")


def http_get(url, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def shared_chains():
    """portmap's shared top-level chains (CNI-HOSTPORT-*) outlive every
    container, as with any CNI runtime; remove them at the end of the session
    if they were not there before and nothing uses them any more."""
    existed = any(line.startswith(":CNI-HOSTPORT-DNAT ") for line in nat_lines())
    yield
    if existed:
        return
    lines = nat_lines()
    if any(line.startswith("-A CNI-HOSTPORT-DNAT ") for line in lines):
        return  # somebody else's mappings
    for line in lines:
        if line.startswith("-A ") and "-j CNI-HOSTPORT-" in line and not line.startswith("-A CNI-HOSTPORT-"):
            sh("iptables", "-t", "nat", "-D", *shlex.split(line)[1:], check=False)
    for chain in ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"):
        sh("iptables", "-t", "nat", "-F", chain, check=False)
        sh("iptables", "-t", "nat", "-X", chain, check=False)


class Net:
    def __init__(self, root):
        tag = "%06x" % random.randrange(1 << 24)
        self.root = root
        self.name = f"zlt-{tag}"
        self.bridge = f"zlt{tag}"
        self.subnet = pick_subnet()
        self.tool = net_tool_path()
        self.masq = False
        self.namespaces = []
        self.procs = []
        if not os.access(self.tool, os.X_OK):
            pytest.fail(f"{self.tool} not built; run 'make build' or set ZLAYER_NET_TOOL")

    def opts(self):
        o = ["--root", self.root, "--name", self.name, "--bridge", self.bridge, "--subnet", self.subnet,
             "--plugin-dir", PLUGIN_DIR]
        return o + (["--masq"] if self.masq else [])

    def run(self, *args, check=True):
        r = sh(self.tool, *self.opts(), *args, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"net-tool {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    def create_ns(self, name):
        path = os.path.join(self.root, "netns", name)
        self.namespaces.append(path)  # before: cleaned even if create half-works
        out = self.run("create-ns", os.path.join(self.root, "netns"), name).stdout.strip()
        assert out == path
        return path

    def attach(self, cid, ns, *ports):
        return json.loads(self.run("attach", cid, ns, *ports).stdout)

    def detach(self, cid, ns=None, check=True):
        return self.run("detach", cid, *([ns] if ns else []), check=check)

    def attached(self):
        return self.run("list").stdout.split()

    def allocations(self):
        return [tuple(line.split()) for line in self.run("allocations").stdout.splitlines()]

    def spawn(self, ns, *argv):
        p = subprocess.Popen(["nsenter", f"--net={ns}", *map(str, argv)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def httpd(self, ns, text, port=8080):
        www = os.path.join(self.root, "www-" + os.path.basename(ns))
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write(text)
        return self.spawn(ns, "busybox", "httpd", "-f", "-p", port, "-h", www)

    def ns_sh(self, ns, *argv, check=True):
        return sh("nsenter", f"--net={ns}", *argv, check=check)

    # what the network leaves on the host
    def rules(self):
        return [line for line in nat_lines() if f'name: \\"{self.name}\\"' in line]

    def bridge_ports(self):
        r = sh("ip", "-o", "link", "show", "master", self.bridge, check=False)
        return [line for line in r.stdout.splitlines() if line.strip()]

    def assert_clean(self):
        assert self.rules() == []
        assert self.bridge_ports() == []
        assert self.allocations() == []
        assert self.attached() == []

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if os.path.isdir(os.path.join(self.root, "cni")):
            for cid in self.attached():
                self.detach(cid, check=False)
        for ns in self.namespaces:
            sh(self.tool, "remove-ns", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        # rules of this network a failed test may have left, and their chains
        lines = self.rules()
        targets = set()
        for line in lines:
            args = shlex.split(line)
            if "-j" in args and args[args.index("-j") + 1].startswith("CNI-") and \
                    not args[args.index("-j") + 1].startswith("CNI-HOSTPORT-"):
                targets.add(args[args.index("-j") + 1])
        for line in lines:
            sh("iptables", "-t", "nat", "-D", *shlex.split(line)[1:], check=False)
        for chain in targets:
            sh("iptables", "-t", "nat", "-F", chain, check=False)
            sh("iptables", "-t", "nat", "-X", chain, check=False)


@pytest.fixture
def net(tmp_path, shared_chains):
    n = Net(str(tmp_path))
    try:
        yield n
    finally:
        n.cleanup()


def test_attach_gives_an_address_reachable_directly_and_through_mapped_ports(net):
    ns = net.create_ns("web")
    fixed = free_port()
    a = net.attach("web", ns, "0:8080/tcp", f"{fixed}:8080/tcp")
    subnet = ipaddress.ip_network(net.subnet)
    assert ipaddress.ip_address(a["ip"]) in subnet
    assert a["gateway"] == str(subnet.network_address + 1)
    assert a["prefix_len"] == 24 and a["netns"] == ns
    assert a["host_ports"][0] > 0 and a["host_ports"][1] == fixed

    addr = net.ns_sh(ns, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"inet {a['ip']}/24" in addr
    assert a["mac"] in net.ns_sh(ns, "ip", "-o", "link", "show", "dev", "eth0").stdout
    assert "LOWER_UP" in net.ns_sh(ns, "ip", "-o", "link", "show", "dev", "lo").stdout
    assert len(net.bridge_ports()) == 1

    net.httpd(ns, "hello from web")
    assert http_get(f"http://{a['ip']}:8080/") == "hello from web"
    # what `docker run -p` users expect: the host port on loopback...
    for port in a["host_ports"]:
        assert http_get(f"http://127.0.0.1:{port}/") == "hello from web"
    # ...and on the host's own addresses
    for line in sh("ip", "-4", "-o", "addr", "show", "scope", "global").stdout.splitlines():
        host_ip = line.split()[3].split("/")[0]
        if ipaddress.ip_address(host_ip) not in subnet:
            assert http_get(f"http://{host_ip}:{a['host_ports'][0]}/") == "hello from web"
            break


def test_udp_port_mapping(net):
    ns = net.create_ns("dns")
    a = net.attach("dns", ns, "0:5353/udp")
    echo = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0', 5353))\n"
            "while True:\n"
            "    d, peer = s.recvfrom(100)\n"
            "    s.sendto(b'echo:' + d, peer)\n")
    net.spawn(ns, "/usr/bin/python3", "-c", echo)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(0.2)
        deadline = time.monotonic() + 5
        while True:
            c.sendto(b"ping", ("127.0.0.1", a["host_ports"][0]))
            try:
                assert c.recvfrom(100)[0] == b"echo:ping"
                break
            except socket.timeout:
                assert time.monotonic() < deadline, "no UDP echo through the mapped port"
    assert any("-p udp" in r for r in nat_lines() if "DNAT" in r and a["ip"] in r)


def test_two_containers_get_different_addresses_and_reach_each_other(net):
    ns1, ns2 = net.create_ns("one"), net.create_ns("two")
    a1 = net.attach("one", ns1)
    a2 = net.attach("two", ns2)
    assert a1["ip"] != a2["ip"] and a1["mac"] != a2["mac"]
    assert sorted(net.attached()) == ["one", "two"]
    assert sorted(net.allocations()) == sorted([(a1["ip"], "one"), (a2["ip"], "two")])
    net.httpd(ns1, "one")
    http_get(f"http://{a1['ip']}:8080/")
    out = net.ns_sh(ns2, "busybox", "wget", "-q", "-O", "-", f"http://{a1['ip']}:8080/").stdout
    assert out == "one"


def test_detach_removes_rules_veth_and_address(net):
    ns = net.create_ns("gone")
    a = net.attach("gone", ns, "0:80/tcp", "0:53/udp")
    assert any('id: \\"gone\\"' in r for r in net.rules())
    assert net.allocations() == [(a["ip"], "gone")]
    assert len(net.bridge_ports()) == 1

    net.detach("gone", ns)
    net.assert_clean()
    assert "eth0" not in net.ns_sh(ns, "ip", "-o", "link").stdout
    assert not any(a["ip"] + ":" in line for line in nat_lines())
    net.detach("gone", ns)  # idempotent
    net.detach("never-attached")


def test_detach_without_the_cache_still_cleans_up(net):
    ns = net.create_ns("lost")
    net.attach("lost", ns, "0:80/tcp")
    shutil.rmtree(os.path.join(net.root, "cni", "cache"))
    net.detach("lost", ns)
    net.assert_clean()
    assert "eth0" not in net.ns_sh(ns, "ip", "-o", "link").stdout


def test_after_a_crash_the_cache_finds_and_detaches_everything(net):
    """The agent died: what it attached is listed from disk and detached
    without knowing the namespaces, including an attach killed midway."""
    ns1, ns2, ns3 = net.create_ns("a"), net.create_ns("b"), net.create_ns("c")
    net.attach("a", ns1, "0:80/tcp")
    net.attach("b", ns2)
    cache = pathlib.Path(net.root, "cni", "cache", net.name, "c.json")
    p = subprocess.Popen([net.tool, *net.opts(), "attach", "c", ns3, "0:81/tcp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not cache.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)  # a plugin the tool started may still be finishing

    ids = net.attached()
    assert ids == ["a", "b", "c"]
    for cid in ids:
        net.detach(cid)
    net.assert_clean()
    for ns in (ns1, ns2, ns3):
        assert "eth0" not in net.ns_sh(ns, "ip", "-o", "link").stdout


def test_twenty_cycles_leave_no_rules_veths_or_addresses(net):
    ns = net.create_ns("cycle")
    veths_before = sh("ip", "-o", "link", "show", "type", "veth").stdout.count("\n")
    seen = set()
    for i in range(20):
        a = net.attach(f"cycle{i}", ns, "0:80/tcp", "0:53/udp")
        seen.add(a["ip"])
        net.detach(f"cycle{i}", ns)
    assert len(seen) >= 2  # host-local moves on; every address came back anyway
    net.assert_clean()
    assert sh("ip", "-o", "link", "show", "type", "veth").stdout.count("\n") == veths_before
    assert [f for f in os.listdir(os.path.join(net.root, "cni", "networks", net.name))
            if f[0].isdigit()] == []


def test_host_port_conflicts_are_refused(net):
    ns1, ns2 = net.create_ns("first"), net.create_ns("second")
    port = free_port()
    net.attach("first", ns1, f"{port}:80/tcp")
    r = net.run("attach", "second", ns2, f"127.0.0.1:{port}:80/tcp", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"network: attach container 'second' to network '{net.name}': host port {port}/tcp on 127.0.0.1 is "
        "already mapped to container 'first'; choose another host port, or 0 for an ephemeral one")
    assert [cid for _, cid in net.allocations()] == ["first"]
    net.attach("second", ns2, f"{port}:80/udp")  # other protocol: fine

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        ns3 = net.create_ns("third")
        r = net.run("attach", "third", ns3, f"{busy}:80", check=False)
        assert r.returncode == 1
        assert f"host port {busy}/tcp on 0.0.0.0 is in use by a program on the host" in r.stderr
    assert sorted(net.attached()) == ["first", "second"]


def test_a_plugin_error_names_the_plugin_and_the_container(net):
    # a veth pair in the bridge's way; cleanup deletes it with the "bridge"
    sh("ip", "link", "add", net.bridge, "type", "veth", "peer", "name", net.bridge + "p")
    ns = net.create_ns("victim")
    r = net.run("attach", "victim", ns, "0:80", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith(f"network: attach container 'victim' to network '{net.name}': "
                               "cni plugin 'bridge' ADD failed: ")
    assert "is not a bridge" in r.stderr and "(cni error" in r.stderr
    net.assert_clean()


def test_masquerade_rules_come_and_go_with_the_container(net):
    net.masq = True
    ns = net.create_ns("out")
    a = net.attach("out", ns)
    masq = [r for r in net.rules() if "POSTROUTING" in r]
    assert masq and a["ip"] in masq[0]
    net.detach("out", ns)
    net.assert_clean()


def test_named_network_namespaces(net):
    ns = net.create_ns("plain")
    mounts = pathlib.Path("/proc/self/mountinfo").read_text()
    assert f" {ns} " in mounts
    assert os.stat(ns).st_ino != os.stat("/proc/self/ns/net").st_ino
    r = net.run("create-ns", os.path.dirname(ns), "plain", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = net.run("create-ns", os.path.dirname(ns), "../escape", check=False)
    assert r.returncode == 1 and "invalid name" in r.stderr
    sh(net.tool, "remove-ns", ns)
    assert not os.path.exists(ns)
    assert f" {ns} " not in pathlib.Path("/proc/self/mountinfo").read_text()
    sh(net.tool, "remove-ns", ns)  # idempotent
    assert net.create_ns("plain") == ns  # the name is free again


def test_plugin_check_at_startup(net, tmp_path):
    net.run("check")
    partial = tmp_path / "cni-partial"
    partial.mkdir()
    for p in ("loopback", "bridge", "host-local"):
        os.symlink(f"{PLUGIN_DIR}/{p}", partial / p)
    r = sh(net.tool, "--root", net.root, "--plugin-dir", partial, "check", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"configuration: network 'zlayer': cni plugin 'portmap' not usable in '{partial}': No such file or "
        "directory; install containernetworking-plugins")
