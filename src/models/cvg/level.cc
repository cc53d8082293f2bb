#include "models/cvg/level.h"

#include "models/cvg/level1_generator.h"
#include "models/cvg/pyramid.h"
#include "models/cvg/upscale_generator.h"
#include "nn/init.h"

namespace fc::models::cvg {

Result<CvgLevel> BuildCvgLevel(const framecast::CvgConfig& config, int level, bool initialize) {
  if (level < 0 || level >= config.levels_size()) {
    return Status::InvalidArgument("BuildCvgLevel: level " + std::to_string(level) +
                                   " out of range (model.cvg.levels has " +
                                   std::to_string(config.levels_size()) + ")");
  }
  FC_RETURN_IF_ERROR(ValidateCvg(config));
  CvgLevel out;
  out.level = level;
  out.geometry = Geometry(config, level);
  out.generator_network = NetworkName(level, 'G');
  out.discriminator_network = NetworkName(level, 'D');
  try {
    if (level == 0) {
      out.generator = std::make_shared<Level1Generator>(config, level);
    } else {
      out.generator = std::make_shared<UpscaleGenerator>(config, level);
    }
    out.discriminators = CvgDiscriminators(config, level);
    if (initialize) {
      nn::InitOrthogonal(*out.generator);
      nn::InitOrthogonal(*out.discriminators);
    }
  } catch (const c10::Error& e) {
    return Status::Internal("building CVG level " + std::to_string(level + 1) + ": " +
                            e.what_without_backtrace());
  }
  return out;
}

void FreezeGenerator(CvgGenerator& generator) {
  generator.eval();
  for (auto& p : generator.parameters()) p.set_requires_grad(false);
}

at::Tensor SampleNoise(const CvgGenerator& generator, int64_t batch, at::Generator gen,
                       const at::TensorOptions& like) {
  return at::randn({batch, generator.z_dim()}, gen, at::TensorOptions().dtype(at::kFloat)).to(like);
}

at::Tensor SampleLevelInput(const framecast::CvgConfig& config,
                            const std::vector<CvgGenerator*>& frozen, int64_t batch,
                            const at::Tensor& labels, at::Generator gen,
                            const at::TensorOptions& like) {
  TORCH_CHECK(!frozen.empty() && static_cast<int>(frozen.size()) < config.levels_size(),
              "SampleLevelInput: need the generators of levels 1..l-1 for a level l > 1");
  torch::NoGradGuard ng;
  at::Tensor y = labels.defined() ? labels.to(like.device()) : labels;
  at::Tensor x;
  for (size_t j = 0; j < frozen.size(); ++j) {
    if (j > 0) {
      const int64_t window = Geometry(config, static_cast<int>(j)).input_frames;
      if (window < x.size(1))
        x = CropWindows(x, RandomWindowStarts(batch, x.size(1), window, gen), window);
    }
    x = frozen[j]->Generate(SampleNoise(*frozen[j], batch, gen, like), y, x);
  }
  const int64_t window = Geometry(config, static_cast<int>(frozen.size())).input_frames;
  if (window < x.size(1))
    x = CropWindows(x, RandomWindowStarts(batch, x.size(1), window, gen), window);
  return x;
}

}  // namespace fc::models::cvg
