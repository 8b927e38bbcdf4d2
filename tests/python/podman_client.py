#!/usr/bin/env python3
"""Drives a running podlink through python-podman 0.11.1.1, the Python library of this API's
generation, the way its users did: images and their inspect documents (read under the older
`containerconfig` name too), a container created from an image's defaults, started, waited
for and committed with the `KEY=VALUE` changes the library documents.

Usage: podman_client.py ADDRESS ROOTFS_TARBALL. Exits non-zero (with a traceback) on the
first failure.
"""
import sys

import podman

address, rootfs = sys.argv[1], sys.argv[2]

client = podman.Client(uri=address)

image_id = client.images.import_image(rootfs, "ppbox", "", ["CMD=/bin/true"])
image = client.images.get(image_id)
details = image.inspect()
# python-podman 0.10-0.11 and pypodman read `containerconfig`; 0.11's create reads `config`.
assert details.containerconfig == details.config, (details.containerconfig, details.config)
assert details.config["cmd"] == ["/bin/true"], details.config

# Image.create() takes the image's defaults, as pypodman's `create` and `run` do.
container = image.create(command=["sh", "-c", "echo from python-podman > /marker"])
container.start()
assert container.wait() == 0

# The changes from Container.commit()'s own documentation, in Podman's KEY=VALUE form.
changes = [
    "CMD=/usr/bin/zsh",
    "ENTRYPOINT=/bin/sh date",
    "ENV=TEST=test_containers.TestContainers.test_commit",
    "EXPOSE=8888/tcp",
    "LABEL=unittest=test_commit",
    "USER=bozo:circus",
    "VOLUME=/data",
    "WORKDIR=/data/application",
]
committed_id = container.commit("ppcommitted", change=changes, message="from python")
committed = client.images.get(committed_id).inspect()
config = committed.config
assert config["cmd"] == ["/usr/bin/zsh"], config
assert config["entrypoint"] == ["/bin/sh date"], config
assert "TEST=test_containers.TestContainers.test_commit" in config["env"], config
assert "8888/tcp" in config["exposedports"], config
assert config["labels"]["unittest"] == "test_commit", config
assert config["user"] == "bozo:circus", config
assert "/data" in config["volumes"], config
assert config["workingdir"] == "/data/application", config
assert committed.containerconfig == config

container.remove(force=True)
print("python-podman client: ok")
