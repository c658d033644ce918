#!/usr/bin/env python3
"""Splits the crash loop's duplicates by where the SIGKILL fell relative to the local server.

The crash loop's own tally splits duplicates by the worker's log: (a) the 250 was never read,
(b) the 250 was read but the record not yet written. This script splits (a) further, from a
capture of the loopback traffic: was the SIGKILL sent before Postfix's 250 went out (the kill
fell in Postfix's own end-of-data time: queue file written and fsync'd), or after (the 250 was
already in the worker's socket, and the worker had not yet got round to reading it)?

    tcpdump -i lo -s 0 -U -w /tmp/crash.pcap tcp &
    MAILPULL_CRASH_LOOP_LOGS=/tmp/crash.log \\
      cargo test -p mailpull-tests --test e2e -- crash::sigkill --nocapture
    kill %1
    python3 scripts/crash-window-capture.py /tmp/crash.pcap /tmp/crash.log

The SMTP port is found by Postfix's "220 ... ESMTP" greeting; the local side must be plain
SMTP (the test bed's is). A transaction is a client packet carrying X-Mailpull-Delivery-Id, the
client packet ending in CRLF.CRLF, and the server's "250 2.0.0"; every accepted transaction of
a delivery id but its last made a duplicate. The kill times are the "--- run N SIGKILL at T"
lines of the log file.
"""

import bisect
import re
import statistics
import struct
import sys

DELIVERY_ID = re.compile(rb"X-Mailpull-Delivery-Id: ([^\r\n]+)")


def packets(path):
    """(time, source port, destination port, TCP payload) of each IPv4 TCP packet."""
    with open(path, "rb") as f:
        header = f.read(24)
        nano = struct.unpack("<I", header[:4])[0] == 0xA1B23C4D
        while True:
            record = f.read(16)
            if len(record) < 16:
                return
            sec, frac, length, _ = struct.unpack("<IIII", record)
            data = f.read(length)
            if data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            if ip[9] != 6:
                continue
            tcp = ip[(ip[0] & 15) * 4 :]
            sport, dport = struct.unpack(">HH", tcp[:4])
            yield sec + frac / (1e9 if nano else 1e6), sport, dport, tcp[(tcp[12] >> 4) * 4 :]


def transactions(path):
    """(delivery id, time of the final dot, time of the 250) of each accepted transaction."""
    smtp_ports, open_tx, done = set(), {}, []
    for t, sport, dport, payload in packets(path):
        if payload.startswith(b"220 ") and b"ESMTP" in payload:
            smtp_ports.add(sport)
        if dport in smtp_ports:
            found = DELIVERY_ID.search(payload)
            if found:
                open_tx[(sport, dport)] = [found.group(1).decode(), None]
            if payload.endswith(b"\r\n.\r\n") and (sport, dport) in open_tx:
                open_tx[(sport, dport)][1] = t
        elif sport in smtp_ports and payload.startswith(b"250 2.0.0"):
            tx = open_tx.pop((dport, sport), None)
            if tx and tx[1] is not None:
                done.append((tx[0], tx[1], t))
    return done


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    done = transactions(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8", errors="replace") as log:
        kills = sorted(
            float(line.split()[-1])
            for line in log
            if line.startswith("--- run") and "SIGKILL at" in line
        )
    eod = sorted(t250 - dot for _, dot, t250 in done)
    n = len(eod)
    if n == 0:
        sys.exit("no SMTP transaction with a delivery id in the capture")
    print(
        f"Postfix end of data (final dot -> 250 on the wire): n={n} "
        f"mean={statistics.mean(eod) * 1000:.2f} ms p50={eod[n // 2] * 1000:.2f} "
        f"p90={eod[int(n * 0.9)] * 1000:.2f} p99={eod[int(n * 0.99)] * 1000:.2f} ms"
    )
    by_id = {}
    for tx in done:
        by_id.setdefault(tx[0], []).append(tx)
    before, after = [], []
    for txs in by_id.values():
        txs.sort(key=lambda tx: tx[1])
        for _, dot, t250 in txs[:-1]:
            i = bisect.bisect_left(kills, dot)
            if i == len(kills):
                continue
            if kills[i] < t250:
                before.append(t250 - kills[i])
            else:
                after.append(kills[i] - t250)
    print(
        f"duplicated transactions: {len(before) + len(after)}; SIGKILL before Postfix's 250 "
        f"went out: {len(before)}; SIGKILL after it (250 unread or record unwritten): {len(after)}"
    )
    print(f"kills: {len(kills)}")


if __name__ == "__main__":
    main()
