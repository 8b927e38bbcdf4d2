"""python-podman 0.11 against podlink's registry methods: pull, push, search.

Usage: registry_client.py ADDRESS REGISTRY_HOST
"""
import sys

import podman

uri, host = sys.argv[1], sys.argv[2]
client = podman.Client(uri=uri)

# images.pull sends PullImage with the name only (no tlsVerify: registries.conf decides).
image_id = client.images.pull(host + "/py/busybox:1")
assert len(image_id) == 64, image_id
image = client.images.get(image_id)
assert image.id == image_id, image

# image.push sends PushImage(name, tag, tlsverify).
pushed = image.push(host + "/py/pushed:2", tlsverify=False)
assert pushed == image_id, pushed

# images.search over the registry's catalog finds both repositories.
names = sorted(r.name for r in client.images.search("py/"))
assert names == [host + "/py/busybox", host + "/py/pushed"], names

# The pushed image pulls back as the same image.
image.remove(force=True)
assert client.images.pull(host + "/py/pushed:2") == image_id
print("python-podman registry: ok", image_id)
