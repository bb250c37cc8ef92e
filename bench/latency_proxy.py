#!/usr/bin/env python3
"""A TCP proxy that adds a fixed delay to every request, for scripts/bench-updates.sh.

    latency_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS

Each chunk the client sends is held DELAY_MS before it is forwarded, so every HTTP request
costs one extra round trip of that length, as a registry across a network would; answers
go back at once. Written for the benchmark here.
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    port, upstream, delay_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    host, up_port = upstream.rsplit(":", 1)
    delay = delay_ms / 1000

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(up_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, up_writer, delay),
            pipe(up_reader, client_writer, 0),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main())
