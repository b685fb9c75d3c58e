#!/usr/bin/env python3
"""A delaying TCP proxy for scripts/bench.sh --latency.

Usage: scripts/delay-proxy.py LISTEN_PORT TARGET_PORT[,TARGET_PORT...] DELAY_MS

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection to 127.0.0.1:TARGET_PORT (with
several ports: the one with the fewest connections in flight, so identical single-threaded
`openssl s_server` instances behave like one server that handles connections in parallel). Each
chunk is delivered DELAY_MS after it was read, in each direction, so a request/response exchange
costs one round trip of 2 * DELAY_MS. Chunks are pipelined (the delay is not cumulative) and kept
in order; a half-close is forwarded after the same delay.

The kernel completes the client's TCP handshake with the proxy at once, so to charge the round
trip a real TCP connect costs, the first client->server chunk is not delivered before
3 * DELAY_MS after the connection was accepted (SYN, SYN-ACK, then ACK + data: 1.5 RTT), which
makes a ClientHello/ServerHello exchange take 2 RTT, as on a real network. The upstream
connection is opened only when that first chunk is due, so a single-threaded server is not
held idle for the simulated connect.

Prints "listening" on stdout once ready. Stops on SIGTERM/SIGINT.
"""

import asyncio
import signal
import sys


async def pump(reader, writer, delay, not_before):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            due = max(loop.time() + delay, not_before)
            if not data:
                queue.put_nowait((due, None))
                break
            queue.put_nowait((due, data))
    except (ConnectionError, OSError):
        queue.put_nowait((loop.time() + delay, None))
    await task


async def handle(client_reader, client_writer, ports, active, delay):
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    server_writer = None
    port = None
    try:
        first = await client_reader.read(65536)
        wait = max(accepted + 3 * delay, loop.time() + delay) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not first:
            return
        port = min(ports, key=lambda p: active[p])
        active[port] += 1
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        server_writer.write(first)
        await asyncio.gather(
            pump(client_reader, server_writer, delay, 0.0),
            pump(server_reader, client_writer, delay, 0.0),
        )
    except (ConnectionError, OSError):
        pass
    finally:
        if port is not None:
            active[port] -= 1
        for w in (client_writer, server_writer):
            try:
                if w is not None:
                    w.close()
            except OSError:
                pass


async def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    listen_port, delay = int(sys.argv[1]), float(sys.argv[3]) / 1000.0
    ports = [int(p) for p in sys.argv[2].split(",")]
    active = {p: 0 for p in ports}
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, ports, active, delay), "127.0.0.1", listen_port, backlog=1024
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
