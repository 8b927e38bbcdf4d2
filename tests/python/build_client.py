#!/usr/bin/env python3
"""Builds an image through python-podman 0.11.1.1's `images.build`, as its users did, then
runs a container of it.

Usage: build_client.py ADDRESS ROOTFS_TARBALL CONTEXT_DIR. Exits non-zero (with a traceback)
on the first failure.
"""
import os
import sys

import podman

address, rootfs, context = sys.argv[1], sys.argv[2], sys.argv[3]

client = podman.Client(uri=address)
client.images.import_image(rootfs, "pybox", "", ["CMD=/bin/sh"])
with open(os.path.join(context, "Dockerfile"), "w") as f:
    f.write("FROM pybox\nARG WHO\nRUN echo built for $WHO > /who\nCMD [\"cat\", \"/who\"]\n")
image, logs = client.images.build(
    dockerfile=[os.path.join(context, "Dockerfile")],
    tags=["localhost/pybuilt:latest"],
    build_args={"WHO": "python"},
)
logs = list(logs)
assert any("RUN" in line for line in logs), logs
details = image.inspect()
assert details.config["cmd"] == ["cat", "/who"], details.config
container = image.create()
container.start()
assert container.wait() == 0
print("python-podman build: ok")
