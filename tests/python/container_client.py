#!/usr/bin/env python3
"""Drives containers on a running podlink through Python's `varlink` package, as Podman's
Python users did: create, attach through the monitor's socket, start, follow the logs,
stats, processes, wait, remove, and the errors in between.

Usage: container_client.py ADDRESS ROOTFS_TARBALL. Exits non-zero (with a traceback) on the
first failure.
"""
import socket
import sys
import time

import varlink

address, rootfs = sys.argv[1], sys.argv[2]


def expect_error(name, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except varlink.VarlinkError as err:
        assert err.error() == name, (name, err.error(), err.parameters())
        return err.parameters()
    raise AssertionError("%s: no error, expected %s" % (call, name))


with varlink.Client(address=address) as client, client.open("io.podman") as podman:
    podman.ImportImage(rootfs, "pybox", "", ['CMD ["/bin/sh"]'])

    # A container whose stdin comes from the attach socket.
    cid = podman.CreateContainer(
        {
            "image": "pybox",
            "name": "py-cat",
            "interactive": True,
            "command": ["sh", "-c", "read x; echo py got $x; echo to stderr >&2"],
            "labels": {"client": "python"},
        }
    )["container"]
    assert len(cid) == 64, cid
    sockets = podman.GetAttachSockets("py-cat")["sockets"]
    assert sockets["container_id"] == cid, sockets
    attach = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    attach.settimeout(20)
    attach.connect(sockets["io_socket"])
    assert podman.StartContainer("py-cat")["container"] == cid
    attach.sendall(b"hello\n")
    got = {2: b"", 3: b""}
    while True:
        message = attach.recv(8193)
        if not message:
            break
        got[message[0]] += message[1:]
    assert got[2] == b"py got hello\n", got
    assert got[3] == b"to stderr\n", got
    assert podman.WaitContainer("py-cat")["exitcode"] == 0

    listed = [c for c in podman.ListContainers()["containers"] if c["names"] == "py-cat"]
    assert listed and listed[0]["labels"]["client"] == "python", listed
    assert listed[0]["status"] == "exited", listed
    inspect = __import__("json").loads(podman.InspectContainer("py-cat")["container"])
    assert inspect["State"]["ExitCode"] == 0 and inspect["Config"]["OpenStdin"], inspect

    # Follow the logs of a container as it writes them.
    podman.CreateContainer(
        {
            "image": "pybox",
            "name": "py-talk",
            "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"],
        }
    )
    podman.StartContainer("py-talk")
    lines = []
    replies = 0
    for reply in podman.GetContainerLogs("py-talk", _more=True):
        replies += 1
        lines.extend(reply["container"])
    assert [l.split(" ", 3)[3] for l in lines] == ["line 1", "line 2", "line 3"], lines
    assert replies >= 2, replies

    # Stats and processes of a running container; errors once it stops.
    podman.CreateContainer({"image": "pybox", "name": "py-sleep", "command": ["sleep", "1000"]})
    podman.StartContainer("py-sleep")
    stats = podman.GetContainerStats("py-sleep")["container"]
    assert stats["name"] == "py-sleep" and stats["pids"] == 1, stats
    assert isinstance(stats["cpu"], float), stats
    rows = podman.ListContainerProcesses("py-sleep", ["pid", "args"])["container"]
    assert rows == ["PID\tCOMMAND", "1\tsleep 1000"], rows
    params = expect_error(
        "io.podman.ErrorOccurred", podman.RemoveContainer, "py-sleep", False
    )
    assert "running" in params["reason"], params
    start = time.time()
    podman.StopContainer("py-sleep", 1)
    assert time.time() - start < 10
    assert podman.WaitContainer("py-sleep")["exitcode"] == 137
    expect_error("io.podman.NoContainerRunning", podman.GetContainerStats, "py-sleep")
    params = expect_error("io.podman.ContainerNotFound", podman.GetContainer, "py-nothing")
    assert params["name"] == "py-nothing", params
    expect_error("io.podman.ImageNotFound", podman.CreateContainer, {"image": "py-nothing"})

    # Pause, kill, restart; the filesystem; podlink's own records.
    podman.CreateContainer(
        {"image": "pybox", "name": "py-fs", "command": ["sh", "-c", "echo x > /made; sleep 1000"]}
    )
    podman.StartContainer("py-fs")
    podman.PauseContainer("py-fs")
    state = __import__("json").loads(podman.ContainerStateData("py-fs")["config"])
    assert state["status"] == "paused", state
    podman.UnpauseContainer("py-fs")
    podman.KillContainer("py-fs", 9)
    assert podman.WaitContainer("py-fs")["exitcode"] == 137
    podman.RestartContainer("py-fs", 5)
    assert podman.GetContainer("py-fs")["container"]["status"] == "running"
    podman.StopContainer("py-fs", 0)
    changes = podman.ListContainerChanges("py-fs")["container"]
    assert changes["added"] == ["/made"], changes
    path = podman.MountContainer("py-fs")["path"]
    assert open(path + "/made").read() == "x\n"
    assert path in podman.ListContainerMounts()["mounts"].values()
    podman.UnmountContainer("py-fs", False)
    assert podman.ListContainerMounts()["mounts"] == {}
    tarball = podman.ExportContainer("py-fs", "/tmp/py-fs-%d.tar" % __import__("os").getpid())["tarfile"]
    import tarfile
    with tarfile.open(tarball) as tar:
        assert "./made" in tar.getnames() or "made" in tar.getnames()
    __import__("os").remove(tarball)
    image = podman.Commit("py-fs", "py-committed", ["LABEL RUN=true"], "py", "", False, "")["image"]
    assert len(image) == 64, image
    podman.ContainerRunlabel({"image": "py-committed", "label": "RUN"})
    for dump in (
        podman.ContainerConfig("py-fs")["config"],
        podman.ContainerInspectData("py-fs")["config"],
        podman.ContainerArtifacts("py-fs", "create-config")["config"],
    ):
        assert isinstance(__import__("json").loads(dump), dict), dump

    # Clean up; nothing is left.
    removed = podman.DeleteStoppedContainers()["containers"]
    assert len(removed) == 4, removed
    assert podman.ContainerExists("py-cat")["exists"] == 1
    assert podman.ListContainers()["containers"] == []

print("python container client: ok")
