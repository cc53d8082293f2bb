// framecast_forward_dump STEP_DIR OUT.pt [SEED]: framecast's forward of a committed step's model,
// written for python/framecast's equivalence test (tests/python/module_test.sh).
//
// Loads the step's model exactly as `framecast eval` / `framecast sample` do (the family's loader,
// the manifest's effective config), in eval mode on the CPU, and saves with torch::pickle_save a
// dict of what the Python module must reproduce from the exported weights:
//   hvrnn, srvp: "clip" [2, D + T, C, H, W] (uniform, from SEED); "loss" and "predictions" of
//     forward_train on it with the noise in "noise/<key>/<t>"; "generated" = generate(the clip's
//     first D frames, T frames) with the noise in "gnoise/<key>/<t>" (hvrnn key: level, srvp:
//     site).
//   cvg: per level k (1-based) "level<k>/z", "level<k>/labels" (class-conditional),
//     "level<k>/low_res" (k > 1, uniform in [-1, 1]) and "level<k>/out" = the trained generator's
//     output at its training length (the cascade loaded as `framecast sample` loads it).
// Exit 1 with a one-line error on any failure.
#include <ATen/ATen.h>
#include <torch/serialize.h>

#include <cstdio>
#include <string>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "models/cvg/config.h"
#include "train/cvg_family.h"
#include "train/family.h"
#include "train/hvrnn_family.h"
#include "train/replica_parts.h"
#include "train/srvp_family.h"

namespace {

using fc::Status;

struct Recorder {
  c10::Dict<std::string, at::Tensor>* out;
  std::string prefix;
  at::Generator gen;
  at::Tensor Draw(int64_t key, int64_t t, at::IntArrayRef shape) {
    at::Tensor v = at::randn(shape, gen, at::kFloat);
    out->insert(prefix + "/" + std::to_string(key) + "/" + std::to_string(t), v);
    return v;
  }
};

Status Dump(const std::string& step_dir, const std::string& out_path, uint64_t seed) {
  FC_ASSIGN_OR_RETURN(auto manifest, fc::ckpt::ReadManifest(step_dir));
  fc::train::InstallFamilyConfigHooks();
  FC_ASSIGN_OR_RETURN(auto config, fc::config::ParseRunConfigText(manifest.config_text(),
                                                                  step_dir + "/MANIFEST.pb"));
  fc::config::ApplyDefaults(&config);
  c10::Dict<std::string, at::Tensor> blob;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto& data = config.data();
  const int64_t D = data.context_frames(), T = data.predicted_frames(), B = 2;
  torch::NoGradGuard ng;
  if (config.model().has_hvrnn()) {
    FC_ASSIGN_OR_RETURN(auto m, fc::train::LoadHvrnn(config, step_dir, manifest));
    m->eval();
    const auto& h = m->config();
    at::Tensor clip = at::rand({B, D + T, h.image_channels(), h.image_size(), h.image_size()}, gen);
    blob.insert("clip", clip);
    Recorder r{&blob, "noise", gen}, g{&blob, "gnoise", gen};
    auto o = m->forward_train(
        clip, D, 1.0, [&](int64_t l, int64_t t, at::IntArrayRef s, const at::TensorOptions&) {
          return r.Draw(l, t, s);
        });
    blob.insert("loss", o.loss.detach());
    blob.insert("predictions", o.predictions);
    blob.insert("generated",
                m->generate(clip.narrow(1, 0, D), T,
                            [&](int64_t l, int64_t t, at::IntArrayRef s, const at::TensorOptions&) {
                              return g.Draw(l, t, s);
                            }));
  } else if (config.model().has_srvp()) {
    FC_ASSIGN_OR_RETURN(auto m, fc::train::LoadSrvp(config, step_dir, manifest));
    m->eval();
    const auto& c = m->config();
    at::Tensor clip = at::rand({B, D + T, c.image_channels(), c.image_size(), c.image_size()}, gen);
    blob.insert("clip", clip);
    Recorder r{&blob, "noise", gen}, g{&blob, "gnoise", gen};
    using Site = fc::models::srvp::Site;
    auto o = m->forward_train(
        clip, [&](Site site, int64_t t, at::IntArrayRef s, const at::TensorOptions&) {
          return r.Draw(static_cast<int64_t>(site), t, s);
        });
    blob.insert("loss", o.loss.detach());
    blob.insert("predictions", o.predictions);
    blob.insert("generated",
                m->generate(clip.narrow(1, 0, D), T,
                            [&](Site site, int64_t t, at::IntArrayRef s, const at::TensorOptions&) {
                              return g.Draw(static_cast<int64_t>(site), t, s);
                            }));
  } else if (config.model().has_cvg()) {
    // As `framecast sample` loads a cascade: the replica without data, every level's state.
    const auto& cvg = config.model().cvg();
    FC_ASSIGN_OR_RETURN(auto tensors, fc::ckpt::ReadTensors(step_dir, manifest, {}));
    fc::train::CvgReplicaOptions o;
    o.with_data = false;
    FC_ASSIGN_OR_RETURN(auto replica, fc::train::CvgReplica::Create(config, nullptr, o));
    FC_RETURN_IF_ERROR(replica->LoadReplicatedState(tensors).WithContext(step_dir));
    for (int l = 0; l < replica->num_levels(); ++l) {
      const std::string p = "level" + std::to_string(l + 1);
      fc::models::cvg::CvgGenerator& G = *replica->level(l).generator;
      G.eval();
      const auto geo = fc::models::cvg::Geometry(cvg, l);
      at::Tensor z = at::randn({B, G.z_dim()}, gen, at::kFloat), labels, low;
      blob.insert(p + "/z", z);
      if (cvg.num_classes() > 0) {
        labels = at::arange(B, at::kLong).remainder(cvg.num_classes());
        blob.insert(p + "/labels", labels);
      }
      if (l > 0) {
        low = at::rand({B, geo.input_frames, cvg.image_channels(), geo.input_resolution,
                        geo.input_resolution},
                       gen) *
                  2 -
              1;
        blob.insert(p + "/low_res", low);
      }
      blob.insert(p + "/out", G.Generate(z, labels, low));
    }
    // The full-length inference copies of the finished levels (what `framecast sample` runs).
    int done = 0;
    for (const auto& st : manifest.stages())
      done += st.state() == framecast::ckpt::StageStatus::DONE;
    replica->FreezeLevels(done);
    for (int l = 1; l < done; ++l) {
      const std::string p = "level" + std::to_string(l + 1);
      fc::models::cvg::CvgGenerator& U = replica->inference_generator(l);
      if (&U == replica->level(l).generator.get()) continue;  // no unrolled copy
      const auto geo = fc::models::cvg::Geometry(cvg, l);
      at::Tensor z = at::randn({B, U.z_dim()}, gen, at::kFloat), labels;
      if (cvg.num_classes() > 0) labels = at::arange(B, at::kLong).remainder(cvg.num_classes());
      at::Tensor low = at::rand({B, geo.frames / geo.temporal_upsample, cvg.image_channels(),
                                 geo.input_resolution, geo.input_resolution},
                                gen) *
                           2 -
                       1;
      blob.insert(p + "/full_z", z);
      blob.insert(p + "/full_low_res", low);
      blob.insert(p + "/full_out", U.Generate(z, labels, low));
    }
    // `framecast sample`'s draw: every finished level, seed 1, labels i % num_classes.
    if (done > 0) {
      at::Tensor labels;
      if (cvg.num_classes() > 0) labels = at::arange(B, at::kLong).remainder(cvg.num_classes());
      FC_ASSIGN_OR_RETURN(
          auto outs,
          replica->SampleCascade(done, labels, B, at::make_generator<at::CPUGeneratorImpl>(1)));
      for (size_t j = 0; j < outs.size(); ++j)
        blob.insert("sample/" + std::to_string(j + 1), outs[j]);
    }
  } else {
    return Status::InvalidArgument(step_dir + ": the config names no hvrnn, srvp or cvg model");
  }
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(blob));
  FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr) return Status::InvalidArgument(out_path + ": cannot write");
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) return Status::InvalidArgument(out_path + ": write failed");
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: framecast_forward_dump STEP_DIR OUT.pt [SEED]\n");
    return 2;
  }
  try {
    Status s = Dump(argv[1], argv[2], argc == 4 ? std::stoull(argv[3]) : 7);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
