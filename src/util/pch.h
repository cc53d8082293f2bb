// Precompiled header for every framecast target: the LibTorch headers all targets use. Keep it to
// headers that are stable and heavy; project headers never go here.
#pragma once

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/nn.h>
#include <torch/optim.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
