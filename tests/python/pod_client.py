"""python-podman 0.11.1.1 against podlink's pod methods: pods.create/get/list, start, stop,
kill, pause, unpause, stats, inspect and remove, with a member made by Image.create(pod=...).

Usage: pod_client.py ADDRESS ROOTFS_TARBALL. Exits non-zero (with a traceback) on the first
failure.
"""
import signal
import sys
import time

import podman

address, rootfs = sys.argv[1], sys.argv[2]
client = podman.Client(uri=address)

image_id = client.images.import_image(rootfs, "ppsleeper", "", ['CMD ["sleep", "1000"]'])
image = client.images.get(image_id)

pod = client.pods.create("pypod", labels={"from": "python"}, share=["net", "ipc", "uts"],
                         infra=True)
assert pod.name == "pypod", pod
assert pod.status == "Created", pod.status
assert [p.id for p in client.pods.list()] == [pod.id]
assert client.pods.get("pypod").id == pod.id

# Image.create always sends net_mode "bridge": in a pod sharing its network that is the pod's.
member = image.create(name="pymember", pod=pod.id)
assert member.id in [c["id"] for c in pod.refresh().containersinfo], pod.containersinfo

pod.start()
assert pod.status == "Running", pod.status
assert pod.numberofcontainers == "2", pod.numberofcontainers
details = pod.inspect()
assert details.config["name"] == "pypod", details.config
assert details.state["infracontainerid"], details.state

stats = list(pod.stats())
assert len(stats) == 2, stats
assert {s.id for s in stats} == {c["id"] for c in pod.containersinfo}, stats

pod.pause()
assert pod.status == "Paused", pod.status
pod.unpause()
assert pod.status == "Running", pod.status

pod.stop()
assert pod.status == "Exited", pod.status
pod.start()
# KillPod answers once the signals are sent; the containers exit a moment later (Pod.kill's
# own wait compares "Running" with "running", so it does not wait).
pod.kill(signal.SIGKILL)
deadline = time.time() + 10
while pod.refresh().status != "Exited":
    assert time.time() < deadline, pod.status
    time.sleep(0.05)

assert pod.remove(force=True) == pod.id
assert list(client.pods.list()) == []
image.remove(force=True)
print("python-podman pods: ok")
