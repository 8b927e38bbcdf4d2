#!/usr/bin/env python3
"""Drives a running podlink through Python's `varlink` package, as Podman's Python users do.

Usage: service_client.py ADDRESS. Exits non-zero (with a traceback) on the first failure.
"""
import sys

import varlink

address = sys.argv[1]

with varlink.Client(address=address) as client:
    # The served description must parse with the package's own IDL parser.
    description = client.get_interface("io.podman")
    methods = description.members
    assert "Ping" in methods and "GetVersion" in methods, sorted(methods)
    assert len([m for m in methods.values() if isinstance(m, varlink.scanner._Method)]) == 72

    with client.open("io.podman") as podman:
        assert podman.Ping()["ping"]["message"] == "OK"

        version = podman.GetVersion()["version"]
        assert version["remote_api_version"] == 1, version
        assert version["os_arch"].startswith("linux/"), version

        info = podman.GetInfo()["info"]
        assert info["host"]["mem_total"] > 0, info
        assert info["store"]["graph_driver_name"] == "overlay", info

        # Methods the contract leaves unimplemented raise MethodNotImplemented.
        for name in ("ResizeContainerTty", "GenerateKube", "ReplayKube"):
            try:
                getattr(podman, name)()
            except varlink.VarlinkError as err:
                assert err.error() == "org.varlink.service.MethodNotImplemented", err.error()
            else:
                raise AssertionError(name + " should fail")

        # An old client leaving out a parameter (StopPod without timeout) is answered, not
        # refused with InvalidParameter: here PodNotFound, naming the pod.
        try:
            podman.StopPod("mypod")
        except varlink.VarlinkError as err:
            assert err.error() == "io.podman.PodNotFound", err.error()
            assert err.parameters()["name"] == "mypod", err.parameters()
        else:
            raise AssertionError("StopPod of a pod that does not exist should fail")

        # The connection is still good after errors.
        assert podman.Ping()["ping"]["message"] == "OK"

print("python client: ok")
