// Test helpers: in-process ranks over a FakeHub, and comparisons of modules and tensors.
#pragma once

#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "dist/communicator_fake.h"

namespace fc::testing {

// Runs fn(rank, comm) on `n` threads joined by one FakeHub; gtest failures and exceptions on any
// rank fail the calling test (exceptions are rethrown as failures with the rank).
inline void RunRanks(int n, const std::function<void(int, dist::Communicator*)>& fn) {
  dist::FakeHub hub(n, std::chrono::seconds(30));
  std::vector<std::thread> threads;
  std::vector<std::string> errors(n);
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      auto comm = hub.Make(r);
      try {
        fn(r, comm.get());
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) EXPECT_EQ(errors[r], "") << "rank " << r << " threw";
}

// max |a - b| / max |b| over the tensor (norm-wise relative difference; 0 for equal tensors).
inline double RelDiff(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.detach().to(at::kDouble).cpu(), bd = b.detach().to(at::kDouble).cpu();
  double den = bd.abs().max().item<double>();
  double num = (ad - bd).abs().max().item<double>();
  return den > 0 ? num / den : num;
}

// Copies parameters and buffers of `from` into `to` (same architecture).
inline void CopyState(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard ng;
  auto fp = from.named_parameters(), tp = to.named_parameters();
  for (auto& item : fp) tp[item.key()].copy_(item.value());
  auto fb = from.named_buffers(), tb = to.named_buffers();
  for (auto& item : fb) tb[item.key()].copy_(item.value());
}

// Every parameter and buffer flattened into one double tensor, in registration order.
inline at::Tensor FlatState(torch::nn::Module& m) {
  std::vector<at::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().reshape({-1}).to(at::kDouble));
  for (auto& b : m.buffers()) parts.push_back(b.detach().reshape({-1}).to(at::kDouble));
  return at::cat(parts);
}

}  // namespace fc::testing
