#!/usr/bin/env python3
"""Unpacks the pinned Debian sid packages of the "current Docker" test engine into a cache.

    fetch-sid-engine.py LOCKFILE CACHE_DIR      prints the unpacked root (ROOT/usr/bin, ROOT/usr/sbin)

Never installs anything: the .deb files are read from sid's Packages index, downloaded from the
pool, checked against the sha256 pinned in LOCKFILE *and* the one in the index, and unpacked with
`dpkg -x`. The result is cached under CACHE_DIR, keyed by the lock file's content, so a machine
that has it needs no network. Every failure says what to do; nothing here waits without a limit.
"""

import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import time
import urllib.request

MIRROR = os.environ.get("SWAB_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
INDEX = "dists/sid/main/binary-amd64/Packages.xz"
TIMEOUT_S = 60


def die(msg):
    print(f"fetch-sid-engine: error: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"fetch-sid-engine: {msg}", file=sys.stderr)


def read_lock(path):
    pins = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                die(f"{path}:{n}: expected `package version sha256`, got {line!r}")
            pins.append(tuple(parts))
    if not pins:
        die(f"{path}: no packages pinned")
    return pins


def get(url):
    """GET with a timeout, three tries: the archive is reached over the network."""
    last = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
                return r.read()
        except OSError as e:  # URLError, timeouts and resets are all OSErrors
            last = e
            time.sleep(2 * (attempt + 1))
    die(f"cannot download {url}: {last}")


def parse_index(data, wanted):
    """{package: [stanza dict, ...]} for the wanted packages (sid may list several versions)."""
    found = {name: [] for name in wanted}
    for stanza in data.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if fields.get("Package") in found:
            found[fields["Package"]].append(fields)
    return found


def main():
    if len(sys.argv) != 3:
        die("usage: fetch-sid-engine.py LOCKFILE CACHE_DIR")
    lock, cache = sys.argv[1], sys.argv[2]
    pins = read_lock(lock)
    with open(lock, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    root = os.path.join(cache, f"sid-{key}")
    if os.path.exists(os.path.join(root, ".complete")):
        print(os.path.join(root, "root"))
        return

    log(f"reading {MIRROR}/{INDEX}")
    index = parse_index(lzma.decompress(get(f"{MIRROR}/{INDEX}")), [p for p, _, _ in pins])
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    unpack = []
    for package, version, sha in pins:
        stanzas = index[package]
        match = [s for s in stanzas if s.get("Version") == version]
        if not match:
            have = ", ".join(f"{s.get('Version')} (sha256 {s.get('SHA256')})" for s in stanzas) or "nothing"
            die(
                f"{package} {version} pinned in {lock} is no longer in sid's index, which has {have}. "
                f"Pin the version the index has now (with its sha256) in {lock}, then rerun."
            )
        stanza = match[0]
        if stanza.get("SHA256") != sha:
            die(f"{package} {version}: sid's index says sha256 {stanza.get('SHA256')}, {lock} pins {sha}")
        path = os.path.join(debs, os.path.basename(stanza["Filename"]))
        if not (os.path.exists(path) and sha256_of(path) == sha):
            log(f"downloading {package} {version}")
            data = get(f"{MIRROR}/{stanza['Filename']}")
            if hashlib.sha256(data).hexdigest() != sha:
                die(f"{package} {version}: the download's sha256 is not the pinned {sha}")
            with open(path + ".part", "wb") as f:
                f.write(data)
            os.replace(path + ".part", path)
        unpack.append(path)

    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "root"))
    for path in unpack:
        subprocess.run(["dpkg", "-x", path, os.path.join(tmp, "root")], check=True, timeout=300)
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
    print(os.path.join(root, "root"))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


if __name__ == "__main__":
    main()
