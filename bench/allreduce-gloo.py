"""Baseline for bench/allreduce.ts: torch.distributed's gloo all-reduce.

N processes on 127.0.0.1 (a free port for the TCP rendezvous) each hold a
float32 vector of the given size and all-reduce it (sum) with the gloo
backend: one warm-up round, then K timed rounds. A round's time is the
slowest rank's (each rank times its own all_reduce after a barrier; the
times are all-reduced with MAX). Every round is checked: each element must be
1 + 2 + ... + N exactly.

    python allreduce-gloo.py --peers 2 --mib 64 --rounds 5

The last line of stdout is one JSON object:
    {"backend": "gloo", "torch": ..., "peers": N, "sizeMiB": S, "rounds": K,
     "seconds": <median round>, "roundSeconds": [...]}
"""
import argparse
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank: int, peers: int, port: int, length: int, rounds: int, out) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=peers)
    expected = float(peers * (peers + 1) // 2)
    vec = torch.empty(length, dtype=torch.float32)
    times = []
    for k in range(rounds + 1):
        vec.fill_(float(rank + 1))
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(vec)
        elapsed = time.perf_counter() - t
        if not bool(torch.all(vec == expected)):
            raise RuntimeError(f"rank {rank}, round {k}: all-reduce result differs from {expected}")
        slowest = torch.tensor([elapsed], dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        if k > 0:
            times.append(float(slowest.item()))
    dist.destroy_process_group()
    if rank == 0:
        out.put(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--peers", type=int, required=True)
    p.add_argument("--mib", type=float, required=True)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.peers < 2 or a.rounds < 1 or a.mib <= 0:
        raise SystemExit("--peers must be at least 2, --rounds at least 1, --mib positive")
    length = int(a.mib * (1 << 20)) // 4
    ctx = mp.get_context("spawn")
    out = ctx.SimpleQueue()
    mp.start_processes(rank_main, args=(a.peers, free_port(), length, a.rounds, out), nprocs=a.peers, join=True, start_method="spawn")
    times = out.get()
    print(json.dumps({
        "backend": "gloo",
        "torch": torch.__version__,
        "peers": a.peers,
        "sizeMiB": a.mib,
        "rounds": a.rounds,
        "seconds": statistics.median(times),
        "roundSeconds": times,
    }), flush=True)


if __name__ == "__main__":
    main()
