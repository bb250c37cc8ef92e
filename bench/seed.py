"""Seeds the private test daemon with the benchmark's state, through the Engine API.

    python3 bench/seed.py HOST ROOTFS_TAR CONTAINERS IMAGES [created]

Imports a base image, then IMAGES distinct unused images (same layer, different label, so
different IDs) and CONTAINERS exited containers of the base image (with `created`, created
but never started, which is much faster to seed). Run with the venv that
has the `docker` package (docker-custodian's own dependency).
"""
import concurrent.futures as cf
import sys

import docker


def main():
    host, rootfs, n_containers, n_images = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = len(sys.argv) < 6 or sys.argv[5] != "created"
    api = docker.APIClient(base_url=host, version="auto", timeout=300)
    data = open(rootfs, "rb").read()
    api.import_image_from_data(data, repository="bench/base", tag="latest", changes=['CMD ["/bin/true"]'])

    def image(i):
        api.import_image_from_data(data, repository=f"bench/img-{i}", tag="latest", changes=[f"LABEL bench.n={i}"])

    def container(i):
        c = api.create_container(
            "bench/base:latest",
            command=["/bin/true"],
            name=f"bench-{i}",
            host_config=api.create_host_config(network_mode="none"),
        )
        if start:
            api.start(c["Id"])
            api.wait(c["Id"])

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        for f in cf.as_completed([pool.submit(image, i) for i in range(n_images)]):
            f.result()
        for f in cf.as_completed([pool.submit(container, i) for i in range(n_containers)]):
            f.result()


if __name__ == "__main__":
    main()
