"""PyTorch DistributedDataParallel peer of `framecast bench step` (the demo conv net).

Same architecture, per-rank batch, frame size, SGD(lr 0.05, momentum 0.9), threads per rank and
timing method (a barrier before each step, the slowest rank's time, median over timed steps after
warm-up). DDP uses the gloo backend on CPU with its default 25 MiB buckets; batch norm is local on
both sides because PyTorch's SyncBatchNorm has no CPU implementation.

Launched by bench/ddp_compare.sh with mpirun, exactly like framecast (same binding).
"""
import argparse
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from mpi_env import from_mpirun


class DemoNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width, 2)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = F.relu(self.bn3(self.conv3(h)))
        return self.head(h.mean((2, 3)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--image", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from_mpirun(29517)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1234)
    net = nn.parallel.DistributedDataParallel(DemoNet(a.width), broadcast_buffers=False)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    frames = torch.randn(a.batch, 3, a.image, a.image)
    targets = torch.rand(a.batch, 2) * 1.6 - 0.8
    times = []
    for i in range(a.warmup + a.steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = F.mse_loss(net(frames), targets)
        loss.backward()
        opt.step()
        loss.item()
        dt = torch.tensor([(time.perf_counter() - t0) * 1e3])
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)
        if i >= a.warmup:
            times.append(dt.item())
    times.sort()
    if rank == 0:
        mean = sum(times) / len(times)
        print(f"pytorch-ddp: ranks {world}, batch/rank {a.batch}, image {a.image}, width {a.width}, "
              f"threads {a.threads}, gloo, local batch norm: {mean:.2f} ms/step mean, "
              f"{times[len(times) // 2]:.2f} median (torch {torch.__version__})")
        print(f"RESULT ddp_ms_per_step={times[len(times) // 2]:.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
