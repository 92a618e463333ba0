#!/usr/bin/python3
"""Reference LMTP collector for the benchmarks: the original Python collector's behaviour.

aiosmtpd's LMTP server (Debian's python3-aiosmtpd) that stores a maildir copy of every message
with the standard library's mailbox.Maildir (tmp -> new, no fsync, one reply after DATA), as the
original did. It forwards nothing: this measures the ingest path the original had.

Usage: aiosmtpd_lmtp_maildir.py --host 127.0.0.1 --port 0 --maildir DIR
Prints "listening PORT" on stdout once bound; stops on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import mailbox
import signal

from aiosmtpd.lmtp import LMTP


class MaildirHandler:
    def __init__(self, path: str) -> None:
        self.maildir = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.maildir.add(envelope.original_content)
        return "250 2.0.0 Message accepted for delivery"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()

    handler = MaildirHandler(args.maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: LMTP(handler, data_size_limit=10_240_000, enable_SMTPUTF8=True, loop=loop),
        host=args.host,
        port=args.port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
