#!/usr/bin/env python3
"""Summarizes a collapsed perf profile (`inferno-collapse-perf` output) of the server.

    summarize.py buckets  < load.folded   # where the CPU went, as in docs/benchmarks.md
    summarize.py shorten  < load.folded   # frames without generic arguments, for a
                                          # smaller, readable `inferno-flamegraph`

Each sample goes to one bucket, chosen by its innermost frame with the stack as context:
the RSA private-key operation, the kernel's share (threads sleeping and waking, loopback
TCP and epoll, the rest), the allocator, JSON, the HTTP stack, and so on.
"""
import collections
import re
import sys

KERNEL_PREFIXES = (
    "tcp_", "ip_", "__tcp", "sock_", "skb", "__sk", "sk_", "net_", "__netif", "ep_",
    "__ep", "eventfd", "do_", "__do", "_copy", "ksys", "vfs", "__fget", "__fdget",
    "__wake", "wake_", "try_to_wake", "ttwu", "enqueue", "dequeue", "update_", "pick_",
    "psi_", "rcu", "__softirq", "__local_bh", "loopback", "dev_", "__dev", "nf_", "__ip",
    "raw_", "_raw", "__x86", "__x64", "rseq", "__rseq", "switch_", "exit_to", "fput",
    "fsnotify", "__fsnotify", "security_", "apparmor", "aa_", "kfree", "kmem",
    "__kmalloc", "__alloc", "alloc_pages", "slab", "__slab", "page_", "__page", "tlb",
    "flush_", "mod_", "__mod", "syscall_", "select_", "sched_", "__sched", "schedule",
    "set_next", "put_prev", "hrtimer", "__hrtimer", "ktime", "read_tsc", "lapic", "irq",
    "__irq", "napi", "__napi", "process_backlog", "validate_xmit", "inet_", "__inet",
    "lock_sock", "release_sock", "__release_sock", "queued_spin", "mutex_", "__mutex",
    "finish_task_switch", "futex", "__futex", "entry_SYSCALL", "native_", "clear_page",
    "copy_user", "memcg", "handle_softirqs",
)


def is_kernel(frame):
    return frame.startswith(KERNEL_PREFIXES) or frame.endswith("_[k]")


def bucket(frames):
    leaf, stack = frames[-1], ";".join(frames)
    low = stack.lower()
    if is_kernel(leaf):
        network = ("tcp", "sock", "inet", "epoll", "sys_read", "sys_write", "sendto", "recvfrom")
        if any(k in low for k in network):
            return "kernel: loopback TCP and epoll"
        if any(k in low for k in ("futex", "finish_task_switch", "schedule", "ttwu")):
            return "kernel: sleeping and waking threads (futex, context switches)"
        return "kernel: other (syscall entry and exit, interrupts)"
    if "aws_lc" in stack and "rsa" in low and "sign" in low:
        return "RSA private-key operation (aws-lc)"
    if "sha256" in leaf:
        return "SHA-256 (body hash, JWT HMAC)"
    if "aws_lc" in leaf:
        return "other aws-lc (HMAC, AES-GCM, Ed25519)"
    if "sqlite3" in leaf:
        return "SQLite engine"
    if re.search(r"malloc|free|realloc|tcache|_int_|unlink_chunk", leaf):
        return "allocator (malloc, free)"
    if re.search(r"mem(cpy|move|set|cmp)", leaf):
        return "memcpy, memset, memcmp"
    if "serde" in leaf or "format_escaped_str" in leaf:
        return "JSON (serde_json)"
    if "jsonwebtoken" in leaf or "base64" in leaf:
        return "JWT decoding, base64"
    if "sqlx" in leaf or "flume" in leaf:
        return "sqlx"
    if re.search(r"hyper|axum|tower|http::|httparse|matchit", leaf):
        return "HTTP stack (hyper, axum, tower)"
    if re.search(r"tokio|mio|parking_lot|std::sys", leaf):
        return "tokio runtime, std sync"
    if re.search(r"domain_core|adapter_http|store_sql|telemetry|prometheus|scaisend", leaf):
        return "our code (core, HTTP adapter, store, metrics)"
    return "other user space (futures glue, libc)"


def short(frame):
    """Drops generic arguments and closure markers."""
    out, depth = [], 0
    for ch in frame:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    s = re.sub(r"::\{\{closure\}\}|\{(closure|async_fn|async_block)#\d+\}|::\{async_fn_env#\d+\}", "", "".join(out))
    return s.strip() or frame[:60]


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "buckets"
    counts, total = collections.Counter(), 0
    for line in sys.stdin:
        stack, n = line.rsplit(" ", 1)
        frames, n = stack.split(";"), int(n)
        total += n
        if mode == "buckets":
            counts[bucket(frames)] += n
        else:
            kept = []
            for f in map(short, frames):
                if not kept or kept[-1] != f:
                    kept.append(f)
            counts[";".join(kept)] += n
    if mode == "buckets":
        for name, n in counts.most_common():
            print(f"{100 * n / max(total, 1):5.1f} %  {name}")
    else:
        for stack, n in counts.items():
            print(stack, n)


if __name__ == "__main__":
    main()
