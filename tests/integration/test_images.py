"""User stories for images: pull from real registries on loopback
(anonymous, basic auth, token auth), failures that leave the store as it was
(bad credentials, missing images, corrupted blobs, cut connections, hostile
layers), whiteouts that overlay-mount to what umoci unpacks, a daemon killed
mid-pull, shared layers fetched once, multi-arch indexes, zstd and Docker
schema2 images, and local image management (images, inspect, tag, rmi, prune,
load). Fixtures: conftest.py (registry, test_images, proxy, agent_daemon)."""
import hashlib
import json
import os
import re
import stat
import subprocess
import tarfile
import time

import pytest

import testimages
from registry import diff_trees, sha256_file, tree_state, wait_for

DIGEST_LINE = re.compile(r"^digest: (sha256:[0-9a-f]{64})$")
STORE_VOLATILE = ["metadata.db*"]


# --- helpers -----------------------------------------------------------------

def pull(d, ref, *args, timeout=90):
    r = d.cli("pull", *args, ref, timeout=timeout)
    assert r.returncode == 0, f"pull {ref} failed ({r.returncode}):\n{r.stderr}\n--- daemon:\n{d.log_tail()}"
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    m = DIGEST_LINE.match(last)
    assert m, f"pull {ref}: last line is not 'digest: sha256:...': {r.stdout!r}"
    return m.group(1)


def pull_error(d, ref, *args, timeout=90):
    """Run a pull that must fail; returns its one "error: ..." line."""
    r = d.cli("pull", *args, ref, timeout=timeout)
    assert r.returncode == 1, f"pull {ref} should fail with 1, got {r.returncode}:\n{r.stdout}\n{r.stderr}"
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error: " in line]
    assert len(errors) == 1 and lines[-1] == errors[0], f"want one 'error: ...' line, last:\n{r.stderr}"
    return errors[0]


def images(d):
    r = d.cli("images", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, list)
    return data


def find_image(d, digest):
    found = [i for i in images(d) if i["digest"] == digest]
    assert found, f"no image {digest} in {images(d)}"
    return found[0]


def inspect(d, ref):
    r = d.cli("image", "inspect", "--json", ref)
    assert r.returncode == 0, f"inspect {ref}: {r.stderr}"
    return json.loads(r.stdout)


def chain_ids(diff_ids):
    out = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def content_dir(root):
    return root / "content" / "sha256"


def content_blobs(root):
    d = content_dir(root)
    return {p.name: p for p in d.iterdir()} if d.is_dir() else {}


def snapshot_dirs(root):
    d = root / "snapshots"
    return {p.name: p for p in d.iterdir()} if d.is_dir() else {}


def tmp_entries(root):
    d = root / "tmp"
    return sorted(os.listdir(d)) if d.is_dir() else []


def assert_blobs_consistent(root):
    for hexd, path in content_blobs(root).items():
        assert path.is_file() and not path.is_symlink(), f"{path} is not a regular file"
        assert sha256_file(path) == "sha256:" + hexd, f"content blob {path} does not match its name"


def assert_store_empty(d):
    assert images(d) == []
    assert content_blobs(d.root) == {}, f"content left behind: {sorted(content_blobs(d.root))}"
    assert snapshot_dirs(d.root) == {}, f"snapshots left behind: {sorted(snapshot_dirs(d.root))}"
    assert tmp_entries(d.root) == []


def assert_failed_pull_left_no_trace(d):
    """No image, nothing in ROOT/tmp, no half-written blob; whatever was
    fetched and verified may stay until prune, which then empties the store."""
    assert images(d) == []
    assert tmp_entries(d.root) == []
    assert_blobs_consistent(d.root)
    r = d.cli("image", "prune")
    assert r.returncode == 0, r.stderr
    assert_store_empty(d)


def referenced(d):
    """(content hexes, snapshot hexes) reachable from the images in the store."""
    blobs, snaps = set(), set()
    store = content_blobs(d.root)

    def walk(digest):
        hexd = digest.split(":", 1)[1]
        if hexd in blobs or hexd not in store:
            return
        blobs.add(hexd)
        doc = json.loads(store[hexd].read_bytes())
        for child in doc.get("manifests", []):
            walk(child["digest"])
        if "config" in doc:
            blobs.add(doc["config"]["digest"].split(":", 1)[1])
        for layer in doc.get("layers", []):
            blobs.add(layer["digest"].split(":", 1)[1])

    for img in images(d):
        walk(img["digest"])
        ref = img["references"][0] if img["references"] else img["digest"]
        info = inspect(d, ref)
        walk(info["digest"])
        for layer in info["layers"]:
            blobs.add(layer["digest"].split(":", 1)[1])
            snaps.add(layer["chain_id"].split(":", 1)[1])
    return blobs, snaps


def assert_no_orphans(d):
    blobs, snaps = referenced(d)
    orphans = sorted(set(content_blobs(d.root)) - blobs)
    assert not orphans, f"content blobs no image references: {orphans}"
    orphan_snaps = sorted(set(snapshot_dirs(d.root)) - snaps)
    assert not orphan_snaps, f"snapshots no image references: {orphan_snaps}"
    missing = sorted(snaps - set(snapshot_dirs(d.root)))
    assert not missing, f"snapshots missing for referenced layers: {missing}"
    assert tmp_entries(d.root) == []


def assert_complete(d, ref, expected_diff_ids=None):
    """The image is listed, its blobs and snapshots are all there."""
    info = inspect(d, ref)
    diff_ids = [layer["diff_id"] for layer in info["layers"]]
    if expected_diff_ids is not None:
        assert diff_ids == expected_diff_ids
    assert [layer["chain_id"] for layer in info["layers"]] == chain_ids(diff_ids)
    blobs, snaps = content_blobs(d.root), snapshot_dirs(d.root)
    for layer in info["layers"]:
        assert layer["digest"].split(":", 1)[1] in blobs, f"layer blob {layer['digest']} missing"
        assert layer["chain_id"].split(":", 1)[1] in snaps, f"snapshot {layer['chain_id']} missing"
        assert layer["size"] > 0
    assert info["digest"].split(":", 1)[1] in blobs
    assert_blobs_consistent(d.root)
    assert tmp_entries(d.root) == []
    return info


def layer_snapshot(d, info, i):
    return d.root / "snapshots" / info["layers"][i]["chain_id"].split(":", 1)[1]


# --- pulls that work -----------------------------------------------------------

def test_anonymous_pull_stores_image_and_inspect_shows_config(registry, agent_daemon, test_images):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "multi")
    digest = pull(d, ref)
    want_digest, _, manifest = reg.get_manifest("busybox", "multi")
    assert digest == want_digest

    listed = find_image(d, digest)
    assert ref in listed["references"]
    assert listed["size"] > 0 and listed["created"]

    info = assert_complete(d, ref, test_images.diff_ids("multi"))
    assert info["digest"] == digest and ref in info["references"]
    assert (info["os"], info["architecture"]) == ("linux", "amd64")
    assert [layer["digest"] for layer in info["layers"]] == [x["digest"] for x in manifest["layers"]]
    assert [layer["size"] for layer in info["layers"]] == [x["size"] for x in manifest["layers"]]
    cfg = info["config"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert cfg["Cmd"] == ["echo hello from multi"]
    assert "GREETING=hello world" in cfg["Env"]
    assert cfg["WorkingDir"] == "/data"
    assert cfg["User"] == "1000:1000"
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert cfg["Labels"] == {"org.zlayer.test": "multi"}
    assert cfg["StopSignal"] == "SIGINT"


def test_pulling_again_fetches_no_layer(registry, agent_daemon):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "multi")
    pull(d, ref, "--quiet")
    _, _, manifest = reg.get_manifest("busybox", "multi")
    layers = "|".join(x["digest"] for x in manifest["layers"])
    before = reg.requests("GET", f"/v2/busybox/blobs/({layers})")
    pull(d, ref, "--quiet")
    assert reg.requests("GET", f"/v2/busybox/blobs/({layers})") == before


@pytest.mark.parametrize("auth", ["basic", "token"])
@pytest.mark.parametrize("how", ["docker-config", "registry-auth"])
def test_pull_with_credentials(registry, agent_daemon, tmp_path, auth, how):
    reg = registry(auth)
    cfg = reg.docker_config(tmp_path / "creds")
    if how == "docker-config":
        d = agent_daemon(env={"DOCKER_CONFIG": str(cfg)})
    else:
        d = agent_daemon(args=["--registry-auth", cfg / "config.json"])
    ref = reg.ref("busybox", "multi")
    digest = pull(d, ref)
    assert digest == reg.get_manifest("busybox", "multi")[0]
    assert_complete(d, ref)
    if auth == "token":
        assert any(ok and user == reg.user for _, _, user, ok in reg.token_server.requests)


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_wrong_password_is_a_clear_401(registry, agent_daemon, tmp_path, auth):
    reg = registry(auth)
    cfg = reg.docker_config(tmp_path / "creds", password="not-the-password")
    d = agent_daemon(env={"DOCKER_CONFIG": str(cfg)})
    err = pull_error(d, reg.ref("busybox", "multi"))
    assert "401" in err, err
    assert_store_empty(d)


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_no_credentials_is_a_clear_401(registry, agent_daemon, auth):
    reg = registry(auth)
    d = agent_daemon()
    err = pull_error(d, reg.ref("busybox", "multi"))
    assert "401" in err, err
    assert_store_empty(d)


@pytest.mark.parametrize("repo,tag", [("no-such-repo", "latest"), ("busybox", "no-such-tag")])
def test_missing_image_or_tag_is_not_found(registry, agent_daemon, repo, tag):
    reg = registry()
    d = agent_daemon()
    err = pull_error(d, reg.ref(repo, tag))
    assert "not found" in err.lower(), err
    assert repo in err, err
    assert_store_empty(d)


# --- failures leave the store as it was ----------------------------------------

def test_corrupted_blob_is_a_digest_mismatch_and_store_is_unchanged(registry, agent_daemon, test_images):
    reg = registry()
    d = agent_daemon()
    pull(d, reg.ref("busybox", "multi"))
    before = tree_state(d.root, exclude=STORE_VOLATILE)
    err = pull_error(d, reg.ref("corrupt"))
    assert "digest mismatch" in err.lower(), err
    after = tree_state(d.root, exclude=STORE_VOLATILE)
    assert before == after, diff_trees(before, after)
    assert len(images(d)) == 1


def test_truncated_download_is_retried_and_succeeds(registry, agent_daemon, proxy, test_images):
    reg = registry()
    # Each of the first two connections that get past 300 kB is cut, which
    # lands inside the ~1 MB busybox layer.
    p = proxy(reg.host, cut_after_bytes=300_000, max_cuts=2)
    d = agent_daemon()
    ref = f"{p.host}/busybox:multi"
    digest = pull(d, ref)
    assert p.cuts >= 1, "the proxy never cut a connection; the test proves nothing"
    assert digest == reg.get_manifest("busybox", "multi")[0]
    assert_complete(d, ref, test_images.diff_ids("multi"))


def test_download_cut_on_every_attempt_fails_clearly(registry, agent_daemon, proxy):
    reg = registry()
    # Every response carrying the ~1 MB busybox layer ends right after its
    # headers: no attempt, resumed or not, makes progress.
    p = proxy(reg.host, truncate_bodies_over=100_000)
    d = agent_daemon()
    t0 = time.monotonic()
    err = pull_error(d, f"{p.host}/busybox:multi", timeout=180)
    assert p.cuts >= 1
    assert "busybox" in err or "sha256:" in err, err
    assert time.monotonic() - t0 < 150
    assert_failed_pull_left_no_trace(d)


@pytest.mark.parametrize("tag", ["evil-" + t for t in sorted(testimages.evil_layers())])
def test_malicious_layer_is_rejected_and_nothing_escapes(registry, agent_daemon, test_images, tmp_path, tag):
    reg = registry()
    # Targets a hardlink escape would grab: they must keep one link.
    sentinels = [tmp_path / "zlayer-evil-outside", tmp_path / "store" / "zlayer-evil-outside"]
    d = agent_daemon()
    for s in sentinels:
        s.write_text("sentinel\n")
    # Verified blobs may stay in the content store (prune takes them);
    # nothing else may change, inside the store or out.
    volatile = ["store/root/metadata.db*", "store/root/content/*", "daemon-*.log"]
    before = tree_state(tmp_path, exclude=volatile)
    err = pull_error(d, reg.ref(tag))
    offending = test_images.evil[tag]
    names = offending if isinstance(offending, tuple) else (offending,)
    assert any(n in err for n in names), f"error does not name {' or '.join(names)}: {err}"
    after = tree_state(tmp_path, exclude=volatile)
    for k in [k for k in after if k not in before and k.count("/") == 2 and k.startswith("store/root/")]:
        if after[k][0] == stat.S_IFDIR and not any(x.startswith(k + "/") for x in after):
            del after[k]  # the store's own top-level directories, made on first use
    assert before == after, diff_trees(before, after)
    for s in sentinels:
        assert os.stat(s).st_nlink == 1
    for host_path in testimages.EVIL_HOST_PATHS:
        assert not os.path.lexists(host_path), f"{host_path} was written on the host"
    for parent in [tmp_path, *tmp_path.parents]:
        for name in ("zlayer-evil-escape", "zlayer-evil-x", "zlayer-evil-up"):
            assert not os.path.lexists(parent / name), f"{parent / name} escaped the store"
    assert_failed_pull_left_no_trace(d)


# --- what a pulled image looks like on disk ----------------------------------

def overlay_mount(lowers, target):
    target.mkdir(parents=True, exist_ok=True)
    opts = "ro,lowerdir=" + ":".join(str(p) for p in lowers)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)], check=True,
                   capture_output=True, text=True)


def test_whiteouts_merge_to_what_umoci_unpacks(registry, agent_daemon, test_images, tmp_path):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "multi")
    pull(d, ref)
    info = assert_complete(d, ref, test_images.diff_ids("multi"))
    snaps = [layer_snapshot(d, info, i) for i in range(len(info["layers"]))]

    # Layer 3 (umoci repack) deletes a file and a directory and empties
    # /replace; layer 4 (hand-made) makes /opq opaque and deletes a symlink.
    def whiteout(p):
        st = os.lstat(p)
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)

    for rel in ("data/to-delete", "gone", "replace/old-a", "replace/sub"):
        assert whiteout(snaps[2] / rel), f"{rel} is not a 0/0 whiteout in layer 3"
    assert whiteout(snaps[3] / "data" / "hello-link")
    assert os.getxattr(snaps[3] / "opq", "trusted.overlay.opaque") == b"y"
    for s in snaps:
        for dirpath, dirnames, filenames in os.walk(s):
            assert not [n for n in dirnames + filenames if n.startswith(".wh.")], f".wh. entry in {dirpath}"

    mnt = tmp_path / "merged"
    overlay_mount(reversed(snaps), mnt)
    try:
        got = tree_state(mnt)
        st_a, st_b = os.lstat(mnt / "data/hello.txt"), os.lstat(mnt / "data/hello-hard")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    want = tree_state(test_images.multi_rootfs)
    got.pop(".")
    want.pop(".")
    assert got == want, diff_trees(want, got)
    assert (st_a.st_dev, st_a.st_ino) == (st_b.st_dev, st_b.st_ino), "hard link became two files"


def test_zstd_layers_pull_and_unpack(registry, agent_daemon):
    reg = registry()
    _, _, manifest = reg.get_manifest("busybox", "zstd")
    assert [x["mediaType"] for x in manifest["layers"]] == [testimages.LAYER_ZSTD]
    d = agent_daemon()
    ref = reg.ref("busybox", "zstd")
    pull(d, ref)
    info = assert_complete(d, ref)
    snap = layer_snapshot(d, info, 0)
    assert sha256_file(snap / "bin" / "busybox") == sha256_file(testimages.BUSYBOX)
    assert os.readlink(snap / "bin" / "sh") == "busybox"
    assert (snap / "zstd-marker").stat().st_size == 1024


def test_docker_schema2_image_pulls(registry, agent_daemon, test_images):
    reg = registry()
    want, media_type, _ = reg.get_manifest("busybox", "v2s2")
    assert media_type == "application/vnd.docker.distribution.manifest.v2+json"
    d = agent_daemon()
    ref = reg.ref("busybox", "v2s2")
    assert pull(d, ref) == want
    info = assert_complete(d, ref, test_images.diff_ids("multi"))
    assert info["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert info["config"]["User"] == "1000:1000"


# --- crash in the middle, sharing ------------------------------------------

def test_daemon_killed_mid_pull_recovers_and_prune_leaves_no_orphans(registry, agent_daemon, proxy, test_images):
    reg = registry()
    p = proxy(reg.host, throttle_bytes_per_sec=256 * 1024)
    d = agent_daemon()
    ref = f"{p.host}/busybox:multi"
    client = d.popen("pull", ref)
    try:
        wait_for(lambda: p.bytes_down > 300_000 or client.poll() is not None, 30, "the pull to get going")
        assert client.poll() is None, f"pull finished before the kill: {client.communicate()}"
        d.kill9()
        client.wait(timeout=30)
        assert client.returncode != 0
    finally:
        if client.poll() is None:
            client.kill()
        client.communicate()
    p.throttle = None
    d.start()
    pull(d, ref)
    assert_complete(d, ref, test_images.diff_ids("multi"))
    r = d.cli("image", "prune")
    assert r.returncode == 0, r.stderr
    assert re.search(r"reclaimed \d+ bytes", r.stdout), r.stdout
    assert_blobs_consistent(d.root)
    assert_no_orphans(d)
    assert_complete(d, ref, test_images.diff_ids("multi"))


def test_concurrent_pulls_fetch_each_shared_layer_once(registry, agent_daemon, proxy, test_images):
    reg = registry()
    p = proxy(reg.host, throttle_bytes_per_sec=1024 * 1024)
    d = agent_daemon()
    _, _, multi = reg.get_manifest("busybox", "multi")
    _, _, sibling = reg.get_manifest("busybox", "sibling")
    layers = {x["digest"] for x in multi["layers"]} | {x["digest"] for x in sibling["layers"]}
    shared = [x["digest"] for x in multi["layers"] if x in sibling["layers"]]
    assert len(shared) == 2
    reg.settle()
    count = {dg: reg.requests("GET", f"/v2/busybox/blobs/{dg}", settle=False) for dg in layers}

    clients = [d.popen("pull", f"{p.host}/busybox:{tag}") for tag in ("multi", "sibling")]
    outs = [c.communicate(timeout=120) for c in clients]
    for c, (out, err) in zip(clients, outs):
        assert c.returncode == 0, f"{err}\n--- daemon:\n{d.log_tail()}"
    reg.settle()
    for dg in sorted(layers):
        fetched = reg.requests("GET", f"/v2/busybox/blobs/{dg}", settle=False) - count[dg]
        assert fetched == 1, f"{dg} ({'shared' if dg in shared else 'own'}) fetched {fetched} times"
    for tag in ("multi", "sibling"):
        assert_complete(d, f"{p.host}/busybox:{tag}")


# --- multi-arch indexes --------------------------------------------------------

def test_index_default_platform_is_amd64(registry, agent_daemon, test_images):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "index")
    pull(d, ref)
    info = assert_complete(d, ref, test_images.diff_ids("base"))
    assert (info["os"], info["architecture"]) == ("linux", "amd64")
    assert info["config"]["Labels"] == {"org.zlayer.arch": "amd64"}


def test_index_platform_flag_picks_arm64_v8(registry, agent_daemon, test_images):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "index")
    pull(d, ref, "--platform", "linux/arm64/v8")
    info = assert_complete(d, ref, test_images.diff_ids("base"))
    assert (info["os"], info["architecture"], info["variant"]) == ("linux", "arm64", "v8")
    assert info["config"]["Labels"] == {"org.zlayer.arch": "arm64"}


def test_index_without_the_platform_lists_the_available_ones(registry, agent_daemon):
    reg = registry()
    d = agent_daemon()
    err = pull_error(d, reg.ref("busybox", "index"), "--platform", "linux/s390x")
    assert "platform" in err and "linux/s390x" in err, err
    assert "linux/amd64" in err and "linux/arm64/v8" in err, f"available platforms not listed: {err}"
    assert_failed_pull_left_no_trace(d)


# --- local image management ----------------------------------------------------

def test_tag_rmi_and_prune(registry, agent_daemon):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "multi")
    alias = "example.com/zl/mine:v1"
    digest = pull(d, ref)

    r = d.cli("tag", ref, alias)
    assert r.returncode == 0, r.stderr
    assert set(find_image(d, digest)["references"]) == {ref, alias}
    assert inspect(d, alias)["digest"] == digest

    r = d.cli("rmi", alias)  # another tag remains: only the tag goes
    assert r.returncode == 0, r.stderr
    assert find_image(d, digest)["references"] == [ref]
    assert d.cli("image", "inspect", "--json", alias).returncode == 1

    assert d.cli("tag", ref, alias).returncode == 0
    r = d.cli("rmi", "--force", ref)  # --force removes the image, every tag
    assert r.returncode == 0, r.stderr
    assert images(d) == []

    had_blobs = bool(content_blobs(d.root))  # unless rmi collected them at once
    r = d.cli("image", "prune")
    assert r.returncode == 0, r.stderr
    m = re.search(r"reclaimed (\d+) bytes", r.stdout)
    assert m, r.stdout
    assert int(m.group(1)) > 1_000_000 or not had_blobs, r.stdout
    assert_store_empty(d)


def test_rmi_of_the_last_tag_then_prune_empties_the_store(registry, agent_daemon):
    reg = registry()
    d = agent_daemon()
    ref = reg.ref("busybox", "multi")
    digest = pull(d, ref)
    r = d.cli("rmi", ref)
    assert r.returncode == 0, r.stderr
    assert all(ref not in i["references"] for i in images(d))
    assert d.cli("image", "prune").returncode == 0
    assert all(i["digest"] != digest for i in images(d))
    assert_store_empty(d)


def test_rmi_unknown_image_is_not_found(agent_daemon):
    d = agent_daemon()
    r = d.cli("rmi", "example.com/zl/nothing:here")
    assert r.returncode == 1
    assert re.search(r"not[- ]found|no such image", r.stderr.lower()), r.stderr
    assert "example.com/zl/nothing:here" in r.stderr


def test_prune_keeps_what_images_use(registry, agent_daemon):
    reg = registry()
    d = agent_daemon()
    pull(d, reg.ref("busybox", "multi"))
    pull(d, reg.ref("busybox", "sibling"))
    before = tree_state(d.root, exclude=STORE_VOLATILE)
    r = d.cli("image", "prune")
    assert r.returncode == 0, r.stderr
    assert re.search(r"reclaimed 0 bytes", r.stdout), r.stdout
    assert tree_state(d.root, exclude=STORE_VOLATILE) == before
    assert_no_orphans(d)


def _load_and_find(d, source):
    before = {i["digest"] for i in images(d)}
    r = d.cli("load", source)
    assert r.returncode == 0, f"load {source}: {r.stderr}\n--- daemon:\n{d.log_tail()}"
    new = [i for i in images(d) if i["digest"] not in before]
    assert len(new) == 1, f"load {source} added {new}"
    return new[0]


def _oci_archive(layout, dest):
    with tarfile.open(dest, "w") as tf:
        for name in sorted(os.listdir(layout)):
            tf.add(layout / name, arcname=name)
    return dest


@pytest.mark.parametrize("kind", ["oci-layout", "oci-archive", "docker-archive"])
def test_load_local_image(agent_daemon, test_images, tmp_path, kind):
    d = agent_daemon()
    layout = test_images.layout
    if kind == "oci-layout":
        source = f"oci-layout:{layout}:multi"
    elif kind == "oci-archive":
        source = f"oci-archive:{_oci_archive(layout, tmp_path / 'image.tar')}:multi"
    else:
        archive = tmp_path / "docker.tar"
        testimages.run("skopeo", "--insecure-policy", "copy", "--quiet", f"oci:{layout}:multi",
                       f"docker-archive:{archive}:example.com/zl/loaded:v1")
        source = f"docker-archive:{archive}"
    img = _load_and_find(d, source)
    if kind != "docker-archive":
        assert img["digest"] == test_images.manifest("multi")[0]
    else:
        assert "example.com/zl/loaded:v1" in img["references"], img
    info = assert_complete(d, img["references"][0] if img["references"] else img["digest"],
                           test_images.diff_ids("multi"))
    assert info["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert info["config"]["StopSignal"] == "SIGINT"
