"""Lets a torch.distributed peer be started by mpirun exactly like framecast (same launcher, same
core binding): maps Open MPI's rank variables onto torch.distributed's env:// variables."""
import os


def from_mpirun(port):
    if "OMPI_COMM_WORLD_RANK" in os.environ:
        os.environ.setdefault("RANK", os.environ["OMPI_COMM_WORLD_RANK"])
        os.environ.setdefault("WORLD_SIZE", os.environ["OMPI_COMM_WORLD_SIZE"])
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(port))
