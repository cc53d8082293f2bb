// The World of an mpirun-launched test binary (set by tests/dist/mpi_main.cc).
#pragma once

#include "dist/world.h"

namespace fc::testing {
extern dist::World* g_world;
}
