"""torch.distributed.checkpoint peer of `framecast bench ckpt`: saves and loads the same state
(--tensors float32 tensors totalling --bytes, replicated on every rank) with DCP's FileSystemWriter
on the gloo backend, started by mpirun like framecast. Best of --rounds; files removed after."""
import argparse
import os
import shutil
import time

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp

from mpi_env import from_mpirun


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--tensors", type=int, default=64)
    p.add_argument("--dir", default="bench-ckpt-dcp")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    from_mpirun(29531)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(5)
    per = a.bytes // 4 // a.tensors
    state = {f"model/t{i}": torch.randn(per) for i in range(a.tensors)}
    total = per * 4 * a.tensors
    d = f"{a.dir}/np{world}"
    best_save = best_load = float("inf")
    for r in range(a.rounds):
        if rank == 0:
            shutil.rmtree(d, ignore_errors=True)
        dist.barrier()
        t0 = time.perf_counter()
        dcp.save(state, storage_writer=dcp.FileSystemWriter(f"{d}/r{r}", sync_files=True))
        dt = torch.tensor([time.perf_counter() - t0])
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)
        best_save = min(best_save, dt.item())
        target = {k: torch.empty_like(v) for k, v in state.items()}
        dist.barrier()
        t0 = time.perf_counter()
        dcp.load(target, storage_reader=dcp.FileSystemReader(f"{d}/r{r}"))
        dt = torch.tensor([time.perf_counter() - t0])
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)
        best_load = min(best_load, dt.item())
        assert all(torch.equal(target[k], state[k]) for k in state)
    dist.barrier()
    if rank == 0:
        shutil.rmtree(a.dir, ignore_errors=True)
        print(f"torch DCP {torch.__version__}: {world} rank(s), {total / 2**30:.2f} GiB state: "
              f"save {best_save:.3f} s {total / best_save / 1e9:.2f} GB/s, "
              f"load {best_load:.3f} s {total / best_load / 1e9:.2f} GB/s per rank")
        print(f"RESULT np={world} dcp_save_s={best_save:.4f} dcp_load_s={best_load:.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
