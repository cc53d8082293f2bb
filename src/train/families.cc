// The model families a run config can name, and their config hooks.
#include "config/run_config.h"
#include "data/sources.h"
#include "models/cvg/config.h"
#include "models/hvrnn/config.h"
#include "train/cvg_family.h"
#include "train/hvrnn_family.h"
#include "train/run.h"
#include "train/trainer.h"

namespace fc::train {

using framecast::ModelConfig;
using framecast::RunConfig;

Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                             dist::Communicator* comm) {
  switch (config.model().family_case()) {
    case ModelConfig::kDemo:
      return MakeDemoTrainer(config, world, comm);
    case ModelConfig::kHvrnn:
      return MakeHvrnnTrainer(config, world, comm);
    case ModelConfig::kCvg:
      return MakeCvgTrainer(config, world, comm);
    default:
      return Status::Unavailable("model: this build cannot train the configured family yet");
  }
}

namespace {

void ApplyFamilyDefaults(RunConfig* c) {
  if (c->data().source_case() != framecast::DataConfig::SOURCE_NOT_SET &&
      !c->data().has_procedural_blobs()) {
    (void)data::ApplyDataDefaults(c->mutable_data());  // errors are Validate's to report
  }
  if (c->model().has_hvrnn()) {
    auto* h = c->mutable_model()->mutable_hvrnn();
    (void)models::hvrnn::ApplyHvrnnDefaults(h);
    if (h->context_init() == framecast::HvrnnConfig::CONCAT && h->context_frames() == 0)
      h->set_context_frames(c->data().context_frames());
  }
  if (c->model().has_cvg()) (void)models::cvg::ApplyCvgRunDefaults(c);
}

Status ValidateFamily(const RunConfig& c) {
  if (c.data().source_case() != framecast::DataConfig::SOURCE_NOT_SET &&
      !c.data().has_procedural_blobs()) {
    FC_RETURN_IF_ERROR(data::ValidateData(c.data(), /*check_files=*/false));
  }
  if (c.model().has_hvrnn()) {
    FC_RETURN_IF_ERROR(models::hvrnn::ValidateHvrnn(c.model().hvrnn()));
    if (c.data().has_procedural_blobs())
      return Status::InvalidArgument(
          "data: the hvrnn family needs video clips (moving_mnist or clips)");
    if (c.data().context_frames() < 1)
      return Status::InvalidArgument("data.context_frames: the hvrnn family needs >= 1");
    if (c.data().predicted_frames() < 1)
      return Status::InvalidArgument("data.predicted_frames: the hvrnn family needs >= 1");
    if (c.model().hvrnn().context_init() == framecast::HvrnnConfig::CONCAT &&
        c.model().hvrnn().context_frames() != c.data().context_frames())
      return Status::InvalidArgument(
          "model.hvrnn.context_frames=" + std::to_string(c.model().hvrnn().context_frames()) +
          ": context_init CONCAT needs data.context_frames (" +
          std::to_string(c.data().context_frames()) + ")");
    if (c.optimizers_size() != 1 || !c.optimizers(0).has_adam())
      return Status::InvalidArgument("optimizers: the hvrnn family takes one adam optimizer");
    if (c.data().has_moving_mnist()) {
      const auto& mm = c.data().moving_mnist();
      if (c.model().hvrnn().image_channels() != 1)
        return Status::InvalidArgument(
            "model.hvrnn.image_channels: Moving MNIST clips have 1 channel");
      if (mm.image_size() != c.model().hvrnn().image_size())
        return Status::InvalidArgument(
            "model.hvrnn.image_size=" + std::to_string(c.model().hvrnn().image_size()) +
            ": data.moving_mnist.image_size is " + std::to_string(mm.image_size()));
    }
  }
  if (c.model().has_cvg()) {
    FC_RETURN_IF_ERROR(models::cvg::ValidateCvgRun(c));
    FC_RETURN_IF_ERROR(ValidateCvgData(c));  // train/cvg_family.h
  }
  return Status::Ok();
}

}  // namespace

void InstallFamilyConfigHooks() {
  config::ConfigHooks hooks;
  hooks.apply_defaults = ApplyFamilyDefaults;
  hooks.validate = ValidateFamily;
  hooks.check_files = [](const RunConfig& c) {
    const bool clips = c.data().source_case() != framecast::DataConfig::SOURCE_NOT_SET &&
                       !c.data().has_procedural_blobs();
    return clips ? data::ValidateData(c.data(), /*check_files=*/true) : Status::Ok();
  };
  config::InstallConfigHooks(hooks);
}

std::vector<std::string> NamesUnder(const framecast::ckpt::Manifest& m, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& r : m.tensors()) {
    if (r.name().rfind(prefix, 0) == 0) names.push_back(r.name());
  }
  return names;
}

}  // namespace fc::train
