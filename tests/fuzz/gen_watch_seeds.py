#!/usr/bin/env python3
"""Writes the fuzz_watch seeds (tests/fuzz/seeds/watch): list pages and watch streams shaped as the
API server sends them, built with the integration tests' object builders.

First byte: bit 0 picks nodes (1) or pods (0); the rest, the size of the
pieces the stream is cut into. A NUL separates a list page from the stream.
"""
import json
import os
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
HERE = os.path.join(FUZZ, "seeds", "watch")
sys.path.insert(0, os.path.join(FUZZ, "..", "integration"))
from fakeapi import node, pod  # noqa: E402


def line(kind, obj):
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n"


def page(items, rv, cont=None):
    meta = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    return json.dumps({"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items})


def bookmark(rv):
    return line("BOOKMARK", {"kind": "Pod", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(rv)}})


def write(name, first, listing, stream):
    data = bytes([first])
    if listing is not None:
        data += listing.encode() + b"\0"
    data += stream.encode()
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


pods = [pod("u-0001", node="n1", pool="1f2e3d4c"), pod("u-0002", node="n2"),
        pod("u-0003"), pod("u-0004", node="n1", deleting=True)]
write("pods-list-then-events", 0x20, page(pods[:2], 10),
      line("ADDED", pods[2]) + line("MODIFIED", dict(pods[2], spec=dict(
          pods[2]["spec"], nodeName="n3"))) + bookmark(14) + line("DELETED", pods[0]) +
      line("ADDED", pods[3]))
write("pods-stream-byte-by-byte", 0x00, None,
      line("ADDED", pods[0]) + "\n" + line("DELETED", pods[0]) + bookmark(20))
write("pods-paged-list", 0x40, page(pods, 30, cont="eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"),
      line("ADDED", pods[1]))
write("pods-gone", 0x10, page([], 5),
      line("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                     "message": "too old resource version", "reason": "Expired",
                     "code": 410}) + line("ADDED", pods[0]))
write("pods-error-event", 0x10, None,
      line("ERROR", {"kind": "Status", "code": 500, "message": "internal error"}))
nodes = [node("n1", {"sandbox.gke.io/runtime": "gvisor"}), node("n2"), node("n3")]
write("nodes-list-then-events", 0x21, page(nodes[:2], 7),
      line("ADDED", nodes[2]) + line("MODIFIED", node("n2", {"x": "y"})) +
      line("DELETED", nodes[0]) + bookmark(9))
write("nodes-stream-cut-in-7s", 0x0d, None, "".join(line("ADDED", n) for n in nodes))
