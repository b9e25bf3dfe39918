"""Test images, built once per session from /bin/busybox with umoci, plus
hand-written OCI layouts (python tarfile + our own digests) for the images
umoci cannot make: a multi-arch index, malicious layers, a lone unique layer
to corrupt, and the big random-data image for the benchmark.

`build_layout(workdir)` returns a `Layouts` describing one OCI layout that
holds every tag; `push(layouts, registry, tags)` copies tags into a registry
with skopeo. Standard library, umoci and skopeo only.
"""
import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile

from registry import OCI_INDEX, OCI_MANIFEST

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ls", "cat", "echo", "true", "false", "sleep", "env", "id", "mkdir", "rm", "touch"]
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"

MULTI_CONFIG = {
    "entrypoint": ["/bin/sh", "-c"],
    "cmd": ["echo hello from multi"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello world"],
    "workingdir": "/data",
    "user": "1000:1000",
    "exposedports": ["8080/tcp"],
    "label": ["org.zlayer.test=multi"],
    "stopsignal": "SIGINT",
}

# Malicious layers: tag -> (entries, the entry name the agent must report).
# Host paths named here must never appear (the tests check).
EVIL_HOST_PATHS = ["/zlayer-evil-absolute", "/etc/zlayer-evil-owned", "/zlayer-evil-up"]


def run(*cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciLayout:
    """Minimal writer for an OCI image layout directory (shared with umoci)."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "oci-layout").exists():
            (self.path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        if not (self.path / "index.json").exists():
            self._write_index({"schemaVersion": 2, "manifests": []})

    def _write_index(self, index):
        tmp = self.path / "index.json.tmp"
        tmp.write_text(json.dumps(index))
        os.replace(tmp, self.path / "index.json")

    def index(self):
        return json.loads((self.path / "index.json").read_text())

    def blob_path(self, digest):
        return self.path / "blobs" / "sha256" / digest.split(":", 1)[1]

    def blob(self, digest):
        return self.blob_path(digest).read_bytes()

    def json_blob(self, digest):
        return json.loads(self.blob(digest))

    def add_blob(self, data, media_type):
        digest = sha256(data)
        p = self.blob_path(digest)
        if not p.exists():
            p.write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_json(self, obj, media_type):
        return self.add_blob(json.dumps(obj, indent=None, separators=(",", ":")).encode(), media_type)

    def tag_descriptor(self, tag):
        for d in self.index()["manifests"]:
            if d.get("annotations", {}).get(REF_NAME) == tag:
                return d
        raise KeyError(f"no tag {tag!r} in {self.path}")

    def set_tag(self, tag, desc):
        index = self.index()
        index["manifests"] = [d for d in index["manifests"]
                              if d.get("annotations", {}).get(REF_NAME) != tag]
        d = dict(desc)
        d["annotations"] = {REF_NAME: tag}
        index["manifests"].append(d)
        self._write_index(index)

    def add_image(self, tag, layers, arch="amd64", os_="linux", variant=None, config=None, labels=None):
        """layers: list of uncompressed tar bytes (gzipped here) or
        (blob bytes, media type, diff_id) triples. Returns the manifest descriptor."""
        descs, diff_ids = [], []
        for layer in layers:
            if isinstance(layer, tuple):
                data, mt, diff_id = layer
            else:
                data, mt, diff_id = gzip.compress(layer, compresslevel=6, mtime=0), LAYER_GZIP, sha256(layer)
            descs.append(self.add_blob(data, mt))
            diff_ids.append(diff_id)
        cfg = {
            "created": "2024-01-01T00:00:00Z", "architecture": arch, "os": os_,
            "config": dict(config or {"Cmd": ["/bin/sh"]}),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "zlayer tests"}
                        for _ in layers],
        }
        if variant:
            cfg["variant"] = variant
        if labels:
            cfg["config"]["Labels"] = dict(labels)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": self.add_json(cfg, OCI_CONFIG), "layers": descs}
        desc = self.add_json(manifest, OCI_MANIFEST)
        if tag:
            self.set_tag(tag, desc)
        return desc


def tar_bytes(entries):
    """entries: list of (TarInfo, bytes or None). Names are kept verbatim."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, kind="file", data=b"", mode=None, target=None, uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.mtime = 1700000000
    ti.uid, ti.gid = uid, gid
    if kind == "file":
        ti.type, ti.mode = tarfile.REGTYPE, 0o644 if mode is None else mode
        return ti, data
    if kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755 if mode is None else mode
    elif kind == "symlink":
        ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, target
    elif kind == "hardlink":
        ti.type, ti.mode, ti.linkname = tarfile.LNKTYPE, 0o644, target
    else:
        raise ValueError(kind)
    return ti, None


def evil_layers():
    """tag -> (uncompressed layer tar, offending entry name, or a tuple of
    names any one of which the error must mention)."""
    return {
        "dotdot": (tar_bytes([entry("../zlayer-evil-escape", data=b"escaped\n")]), "../zlayer-evil-escape"),
        "absolute": (tar_bytes([entry("/zlayer-evil-absolute", data=b"absolute\n")]), "/zlayer-evil-absolute"),
        "inner-dotdot": (tar_bytes([entry("a", "dir"), entry("a/../../zlayer-evil-x", data=b"x\n")]),
                         "a/../../zlayer-evil-x"),
        "symlink-abs": (tar_bytes([entry("sl-etc", "symlink", target="/etc"),
                                   entry("sl-etc/zlayer-evil-owned", data=b"owned\n")]),
                        "sl-etc/zlayer-evil-owned"),
        "symlink-up": (tar_bytes([entry("sl-up", "symlink", target="../../.."),
                                  entry("sl-up/zlayer-evil-up", data=b"up\n")]),
                       "sl-up/zlayer-evil-up"),
        "hardlink": (tar_bytes([entry("hl-escape", "hardlink", target="../../zlayer-evil-outside")]),
                     ("hl-escape", "../../zlayer-evil-outside")),
    }


class Layouts:
    """What build_layout() made. `layout` is the OCI layout directory; the
    other attributes name tags in it and what the tests need to know."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.layout = self.workdir / "layout"
        self.oci = None
        self.multi_rootfs = self.workdir / "multi-unpacked" / "rootfs"
        self.evil = {}  # tag -> offending entry name (or tuple of acceptable names)
        self.corrupt_layer = None  # digest of the unique layer of "corrupt"
        self.index_platforms = {}  # "linux/amd64" -> manifest digest

    def manifest(self, tag):
        desc = self.oci.tag_descriptor(tag)
        return desc["digest"], self.oci.json_blob(desc["digest"])

    def config(self, tag):
        _, m = self.manifest(tag)
        return self.oci.json_blob(m["config"]["digest"])

    def diff_ids(self, tag):
        return self.config(tag)["rootfs"]["diff_ids"]


def _umoci_config(layout, tag, settings, new_tag=None):
    args = ["umoci", "config", "--image", f"{layout}:{tag}"]
    if new_tag:
        args += ["--tag", new_tag]
    for key, value in settings.items():
        for v in value if isinstance(value, list) else [value]:
            args += [f"--config.{key}", v]
    run(*args)


def _populate_base(rootfs):
    (rootfs / "bin").mkdir(mode=0o755)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    os.chmod(rootfs / "bin" / "busybox", 0o755)
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    for d in ("etc", "tmp", "home", "data"):
        (rootfs / d).mkdir()
    os.chmod(rootfs / "tmp", 0o1777)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\n")


def _populate_layer2(rootfs):
    data = rootfs / "data"
    (data / "hello.txt").write_text("hello, layers\n")
    os.link(data / "hello.txt", data / "hello-hard")
    os.symlink("hello.txt", data / "hello-link")
    os.mkfifo(data / "fifo", 0o644)
    (data / "to-delete").write_text("deleted in layer 3\n")
    (data / "setuid").write_bytes(b"#!/bin/sh\necho setuid\n")
    os.chmod(data / "setuid", 0o4755)
    home = rootfs / "home" / "user"
    home.mkdir()
    (home / "owned").write_text("owned by 1000\n")
    os.chown(home, 1000, 1000)
    os.chown(home / "owned", 1000, 1000)
    for d in ("replace", "replace/sub", "opq", "opq/sub", "gone"):
        (rootfs / d).mkdir()
    (rootfs / "replace" / "old-a").write_text("a\n")
    (rootfs / "replace" / "sub" / "old-b").write_text("b\n")
    (rootfs / "opq" / "stale").write_text("hidden by the opaque dir\n")
    (rootfs / "opq" / "sub" / "stale2").write_text("hidden too\n")
    (rootfs / "gone" / "file").write_text("the whole dir goes\n")


def _populate_layer3(rootfs):
    (rootfs / "data" / "to-delete").unlink()
    shutil.rmtree(rootfs / "gone")
    shutil.rmtree(rootfs / "replace")
    (rootfs / "replace").mkdir()
    (rootfs / "replace" / "new-c").write_text("c\n")


def _layer4_opaque():
    """Hand-made: an opaque whiteout over /opq and an explicit file whiteout."""
    return tar_bytes([
        entry("opq", "dir"),
        entry("opq/.wh..wh..opq", data=b""),
        entry("opq/fresh", data=b"the only file left in /opq\n"),
        entry("data", "dir"),
        entry("data/.wh.hello-link", data=b""),
    ])


def build_layout(workdir):
    """Build every small test image into one OCI layout; returns Layouts."""
    L = Layouts(workdir)
    lay = L.layout
    run("umoci", "init", "--layout", lay)
    run("umoci", "new", "--image", f"{lay}:empty")
    bundle = L.workdir / "bundle"
    run("umoci", "unpack", "--image", f"{lay}:empty", bundle)
    rootfs = bundle / "rootfs"
    _populate_base(rootfs)
    run("umoci", "repack", "--refresh-bundle", "--image", f"{lay}:base", bundle)
    _populate_layer2(rootfs)
    run("umoci", "repack", "--refresh-bundle", "--image", f"{lay}:stage2", bundle)
    _populate_layer3(rootfs)
    run("umoci", "repack", "--refresh-bundle", "--image", f"{lay}:stage3", bundle)
    shutil.rmtree(bundle)
    with open(L.workdir / "layer4.tar", "wb") as f:
        f.write(_layer4_opaque())
    run("umoci", "raw", "add-layer", "--image", f"{lay}:stage3", "--tag", "multi", L.workdir / "layer4.tar")
    _umoci_config(lay, "multi", MULTI_CONFIG)
    L.oci = OciLayout(lay)

    # The reference tree for the whiteout test.
    run("umoci", "unpack", "--image", f"{lay}:multi", L.multi_rootfs.parent)

    # A sibling sharing the first two layers of "multi".
    sib = tar_bytes([entry("sibling", "dir"), entry("sibling/only-here", data=os.urandom(4096))])
    with open(L.workdir / "sibling.tar", "wb") as f:
        f.write(sib)
    run("umoci", "raw", "add-layer", "--image", f"{lay}:stage2", "--tag", "sibling", L.workdir / "sibling.tar")
    _umoci_config(lay, "sibling", {"cmd": ["/bin/sh"]})

    # Source for the zstd image: its own layers, never pushed as gzip, so that
    # skopeo's blob cache cannot substitute a gzip blob for the zstd one.
    zsrc = tar_bytes([entry("bin", "dir"), entry("bin/busybox", data=pathlib.Path(BUSYBOX).read_bytes(), mode=0o755),
                      entry("bin/sh", "symlink", target="busybox"),
                      entry("zstd-marker", data=os.urandom(1024))])
    L.oci.add_image("zstd-src", [zsrc], config={"Cmd": ["/bin/sh"]})

    # Multi-arch index: the real amd64 "base" image and an arm64/v8 twin
    # that reuses its layers with a different config.
    base_digest, base_manifest = L.manifest("base")
    base_cfg = L.oci.json_blob(base_manifest["config"]["digest"])
    layers = [(L.oci.blob(d["digest"]), d["mediaType"], diff)
              for d, diff in zip(base_manifest["layers"], base_cfg["rootfs"]["diff_ids"])]
    amd = L.oci.add_image(None, layers, arch="amd64", labels={"org.zlayer.arch": "amd64"},
                          config={"Cmd": ["/bin/sh"]})
    arm = L.oci.add_image(None, layers, arch="arm64", variant="v8", labels={"org.zlayer.arch": "arm64"},
                          config={"Cmd": ["/bin/sh"]})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        dict(amd, platform={"os": "linux", "architecture": "amd64"}),
        dict(arm, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
    ]}
    L.oci.set_tag("index", L.oci.add_json(index, OCI_INDEX))
    L.index_platforms = {"linux/amd64": amd["digest"], "linux/arm64/v8": arm["digest"]}

    # Images for another operating system, which a linux node routes to a
    # peer: an index with only windows entries (and the unknown/unknown
    # attestation entry buildx adds), and a lone manifest whose config
    # says windows. Their layers are base's: nobody unpacks them.
    win_amd = L.oci.add_image(None, layers, arch="amd64", os_="windows", config={"Cmd": ["cmd.exe"]})
    win_arm = L.oci.add_image(None, layers, arch="arm64", os_="windows", config={"Cmd": ["cmd.exe"]})
    attest = L.oci.add_image(None, [], arch="unknown", os_="unknown", config={})
    windex = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        dict(win_amd, platform={"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.1"}),
        dict(win_arm, platform={"os": "windows", "architecture": "arm64", "os.version": "10.0.20348.1"}),
        dict(attest, platform={"os": "unknown", "architecture": "unknown"}),
    ]}
    L.oci.set_tag("windows", L.oci.add_json(windex, OCI_INDEX))
    L.oci.add_image("windows-single", layers, arch="amd64", os_="windows", config={"Cmd": ["cmd.exe"]})

    # One unique random layer to corrupt in the registry.
    corrupt = tar_bytes([entry("payload", data=os.urandom(256 * 1024))])
    desc = L.oci.add_image("corrupt", [corrupt])
    L.corrupt_layer = L.oci.json_blob(desc["digest"])["layers"][0]["digest"]

    for tag, (layer, name) in evil_layers().items():
        L.oci.add_image("evil-" + tag, [layer])
        L.evil["evil-" + tag] = name
    return L


# Where each tag goes in a registry: (repo, tag, extra skopeo args).
PUSH_PLAN = {
    "multi": ("busybox", "multi", []),
    "sibling": ("busybox", "sibling", []),
    "v2s2": ("busybox", "v2s2", ["--format", "v2s2"], "multi"),
    "zstd": ("busybox", "zstd", ["--dest-compress", "--dest-compress-format", "zstd"], "zstd-src"),
    "index": ("busybox", "index", ["--all"]),
    "windows": ("busybox", "windows", ["--all"]),
    "windows-single": ("busybox", "windows-single", []),
    "corrupt": ("corrupt", "latest", []),
}


def skopeo_copy(src, dst, dest_creds=None, extra=()):
    args = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]
    if dest_creds:
        args += ["--dest-creds", dest_creds]
    run(*args, *extra, src, dst)


def push(L, reg, names):
    """Push the named images (keys of PUSH_PLAN, or "evil-*" tags)."""
    for name in names:
        if name.startswith("evil-"):
            repo, tag, extra, src = name, "latest", [], name
        else:
            plan = PUSH_PLAN[name]
            repo, tag, extra = plan[:3]
            src = plan[3] if len(plan) > 3 else name
        skopeo_copy(f"oci:{L.layout}:{src}", f"docker://{reg.host}/{repo}:{tag}", reg.creds, extra)


def build_big_image(workdir, layers=5, layer_mb=40, compresslevel=1):
    """A ~layers*layer_mb MB image of incompressible random data, tag "big",
    in its own OCI layout WORKDIR/big-layout (built on demand, for the
    benchmark; about 1.5 s per 40 MB layer). Returns the layout path."""
    oci = OciLayout(pathlib.Path(workdir) / "big-layout")
    blobs = []
    for i in range(layers):
        raw = tar_bytes([entry(f"big-{i}", "dir"),
                         entry(f"big-{i}/random.bin", data=os.urandom(layer_mb << 20))])
        blobs.append((gzip.compress(raw, compresslevel=compresslevel, mtime=0), LAYER_GZIP, sha256(raw)))
        del raw
    oci.add_image("big", blobs, config={"Cmd": ["/bin/sh"]})
    return oci.path


def push_big_image(workdir, reg, repo="big", tag="latest", **build_kw):
    """Build the big image once per workdir (see build_big_image) and push it
    to reg; returns its reference there."""
    layout = pathlib.Path(workdir) / "big-layout"
    if not (layout / "index.json").exists():
        build_big_image(workdir, **build_kw)
    skopeo_copy(f"oci:{layout}:big", f"docker://{reg.host}/{repo}:{tag}", reg.creds)
    return reg.ref(repo, tag)
