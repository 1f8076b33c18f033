#!/usr/bin/env python3
"""Writes a directory tree as a single-layer OCI image archive.

    oci-archive.py --rootfs DIR --tag REF --out FILE [--entrypoint PATH]
                   [--user UID:GID] [--label KEY=VALUE ...]

The archive is an OCI image layout (oci-layout, index.json, blobs/) in a tar
file, the format `ctr images import`, `skopeo copy oci-archive:` and
`podman load` read. The reference is recorded twice in the index: in
io.containerd.image.name (containerd imports it under that name) and in
org.opencontainers.image.ref.name (the tag, for skopeo and podman).

Reproducible: entries sorted, timestamps zero, owners root, so the same tree
gives the same digests. Standard library only (manifests/image/build.sh runs
it on a bare Debian machine).
"""

import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile


def layer_tar(rootfs):
    """The uncompressed layer: every entry under rootfs, sorted, owned by
    root, mtime 0. Regular files, directories and symbolic links only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                entries.append(os.path.join(dirpath, name))
        for path in sorted(entries, key=lambda p: os.path.relpath(p, rootfs)):
            rel = os.path.relpath(path, rootfs)
            st = os.lstat(path)
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                raise SystemExit(f"oci-archive.py: {rel}: not a file, directory or link")
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--tag", required=True, help="full reference, e.g. ghcr.io/org/name:1.0")
    ap.add_argument("--out", required=True)
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--user", default="")
    ap.add_argument("--label", action="append", default=[])
    args = ap.parse_args()

    name, _, tag = args.tag.rpartition(":")
    if not name or "/" in tag:
        raise SystemExit(f"oci-archive.py: --tag {args.tag!r} needs a tag (name:tag)")
    labels = {}
    for kv in args.label:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"oci-archive.py: --label {kv!r} is not KEY=VALUE")
        labels[k] = v

    layer = layer_tar(args.rootfs)
    config = canonical({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": args.entrypoint or None,
            "Env": ["PATH=/usr/local/bin"],
            "User": args.user,
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "manifests/image/build.sh"}],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    })
    index = canonical({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": args.tag,
                            "org.opencontainers.image.ref.name": tag},
        }],
    })

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry, body in [("oci-layout", canonical({"imageLayoutVersion": "1.0.0"})),
                            ("index.json", index),
                            ("blobs/sha256/" + digest(layer)[7:], layer),
                            ("blobs/sha256/" + digest(config)[7:], config),
                            ("blobs/sha256/" + digest(manifest)[7:], manifest)]:
            info = tarfile.TarInfo(entry)
            info.size, info.mode, info.mtime = len(body), 0o644, 0
            tar.addfile(info, io.BytesIO(body))
    os.replace(tmp, args.out)
    print(f"{args.tag} {digest(manifest)} ({len(layer) // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
