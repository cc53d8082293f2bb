// Shared helpers of the performance tests: tiny HVRNN and CVG configs and replicas with fixed
// batches, and gradient comparisons.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "common/cvg_testing.h"
#include "common/ranks.h"
#include "config/run_config.h"
#include "train/cvg_family.h"
#include "train/family.h"
#include "train/hvrnn_family.h"
#include "train/trainer.h"

namespace fc::testing {

// A 32x32 two-level HVRNN on Moving Fashion-MNIST (global batch 4, 2 context + 3 predicted frames).
// One group per GroupNorm: with 2 groups the 1x1 latent nets normalise over 2-4 values and the
// initial gradient is ill-conditioned (fp32 vs fp64 differ by 1.5e-4 instead of 4e-6), which
// would hide the effects the tests measure.
inline framecast::RunConfig TinyHvrnnConfig(const std::string& performance, int64_t steps = 40) {
  train::InstallFamilyConfigHooks();
  auto c = config::ParseRunConfigText(
      R"pb(
            name: "perf_hvrnn"
            seed: 3
            data {
              global_batch: 4
              context_frames: 2
              predicted_frames: 3
              epoch_size: 64
              loader_threads: 1
              moving_mnist { convention: SVG image_size: 32 digit_size: 16 num_digits: 1 }
            }
            model {
              hvrnn {
                image_channels: 1
                image_size: 32
                encoder_widths: [ 4, 4, 8, 8, 8 ]
                decoder_widths: [ 8, 8, 8, 4, 4 ]
                groups: 1
                latents { resolution: 1 channels: 4 }
                latents { resolution: 8 channels: 4 }
                likelihood: GAUSSIAN
                gaussian_sigma: 0.25
                beta_warmup_steps: 0
                beta_max: 1
              }
            }
            optimizers {
              adam { beta1: 0.9 beta2: 0.999 }
              lr: 2e-3
            }
            logging { every_steps: 1000 }
      )pb" +
          std::string(" performance { ") + performance + " }",
      "tiny hvrnn");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  auto* st = c.value().add_stages();
  st->set_name("main");
  st->set_steps(steps);
  config::ApplyDefaults(&c.value());
  Status v = config::Validate(c.value());
  EXPECT_TRUE(v.ok()) << v.ToString();
  return c.value();
}

// The unit tests' two-level class-conditional cascade (tests/cvg): 4/8x8 -> 8/16x16, batch 4.
inline framecast::RunConfig TinyCvgConfig(const std::string& performance) {
  return TinyCascadeConfig("perf_cvg", 3,
                           "logging { every_steps: 1000 } performance { " + performance + " }");
}

// A deterministic batch of `frames` frames in [0, 1] ([B, frames, 1, size, size]) with labels.
inline data::Batch FixedBatch(int64_t b, int64_t frames, int64_t size, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  data::Batch batch;
  batch.frames = at::rand({b, frames, 1, size, size}, gen, at::kFloat);
  batch.labels = at::randint(10, {b}, gen, at::kLong);
  return batch;
}

inline std::unique_ptr<train::HvrnnReplica> MakeHvrnn(const framecast::RunConfig& c,
                                                      at::Device device, bool fixed_batch = true) {
  train::HvrnnReplicaOptions o;
  o.device = device;
  o.keyed_noise = true;
  o.loader_threads = 1;
  if (fixed_batch) o.fixed_batch = FixedBatch(4, 5, 32, 11);
  auto r = train::HvrnnReplica::Create(c, nullptr, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

inline std::unique_ptr<train::CvgReplica> MakeCvg(const framecast::RunConfig& c, at::Device device,
                                                  bool fixed_batch = true) {
  train::CvgReplicaOptions o;
  o.device = device;
  o.keyed_noise = true;
  o.loader_threads = 1;
  if (fixed_batch) {
    o.with_data = false;
    o.fixed_batch = FixedBatch(4, 8, 16, 13);
  }
  auto r = train::CvgReplica::Create(c, nullptr, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

// Every parameter's gradient (zeros where none), flattened in registration order, on the CPU.
inline at::Tensor FlatGrads(torch::nn::Module& m) {
  std::vector<at::Tensor> parts;
  for (auto& p : m.parameters()) {
    at::Tensor g = p.grad().defined() ? p.grad() : at::zeros_like(p);
    parts.push_back(g.detach().reshape({-1}).to(at::kDouble).cpu());
  }
  return at::cat(parts);
}

inline at::Tensor FlatParams(torch::nn::Module& m) {
  std::vector<at::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().reshape({-1}).to(at::kDouble).cpu());
  return at::cat(parts);
}

// ||a - b|| / ||b|| (0 for equal tensors).
inline double NormRelDiff(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.detach().to(at::kDouble).cpu(), bd = b.detach().to(at::kDouble).cpu();
  const double den = bd.norm().item<double>();
  const double num = (ad - bd).norm().item<double>();
  return den > 0 ? num / den : num;
}

inline double Scalar(const train::StepReport& r, const std::string& name) {
  for (const auto& [n, v] : r.scalars)
    if (n == name) return v;
  ADD_FAILURE() << "no scalar " << name;
  return 0;
}

}  // namespace fc::testing
