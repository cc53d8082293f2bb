#include "models/cvg/config.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "models/cvg/discriminators.h"
#include "models/cvg/level1_generator.h"
#include "models/cvg/upscale_generator.h"
#include "nn/init.h"

namespace fc::models::cvg {

using framecast::CvgConfig;
using framecast::CvgDiscriminatorConfig;
using framecast::CvgLevelConfig;

namespace {

std::string LevelPath(int i) { return "model.cvg.levels[" + std::to_string(i) + "]"; }

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int Log2(int64_t v) {
  int n = 0;
  while (v > 1) {
    v >>= 1;
    ++n;
  }
  return n;
}

std::vector<int> DefaultGeneratorMultipliers(int level, int units) {
  std::vector<int> m;
  if (level == 0) {
    m = {8, 8, 4, 2};
  } else if (units == 6) {
    m = {8, 4, 4, 4, 2, 1};
  } else {
    m = {8, 8, 4, 2, 1};
  }
  while (static_cast<int>(m.size()) < units) m.push_back(1);
  m.resize(std::max(units, 1));
  return m;
}

void DefaultDiscriminator(CvgDiscriminatorConfig* d, int level, int64_t resolution) {
  if (d->base_channels() == 0) d->set_base_channels(level == 0 ? 128 : 96);
  if (d->channel_multipliers_size() == 0) {
    std::vector<int> m;
    if (level == 0) {
      m = {16, 16, 8, 4, 2};
    } else if (resolution <= 128) {
      m = {1, 2, 4, 8, 16, 16};
    } else {
      m = {1, 2, 4, 8, 8, 16, 16};
    }
    for (int v : m) d->add_channel_multipliers(v);
  }
  if (d->blocks_3d() == 0) d->set_blocks_3d(std::min(2, d->channel_multipliers_size()));
}

Status CheckDiscriminator(const CvgDiscriminatorConfig& d, const std::string& path,
                          int64_t input_resolution, int64_t frames, bool three_d) {
  if (d.base_channels() <= 0) {
    return Status::InvalidArgument(path + ".base_channels=" + std::to_string(d.base_channels()) +
                                   ": must be > 0");
  }
  if (d.channel_multipliers_size() == 0) {
    return Status::InvalidArgument(path + ".channel_multipliers: at least one block is required");
  }
  for (int i = 0; i < d.channel_multipliers_size(); ++i) {
    if (d.channel_multipliers(i) <= 0) {
      return Status::InvalidArgument(path + ".channel_multipliers[" + std::to_string(i) + "]=" +
                                     std::to_string(d.channel_multipliers(i)) + ": must be > 0");
    }
  }
  if (d.downsample_size() != 0 && d.downsample_size() != d.channel_multipliers_size()) {
    return Status::InvalidArgument(path + ".downsample: " + std::to_string(d.downsample_size()) +
                                   " entries for " + std::to_string(d.channel_multipliers_size()) +
                                   " blocks");
  }
  if (three_d && (d.blocks_3d() < 0 || d.blocks_3d() > d.channel_multipliers_size())) {
    return Status::InvalidArgument(path + ".blocks_3d=" + std::to_string(d.blocks_3d()) +
                                   ": must be in [0, " +
                                   std::to_string(d.channel_multipliers_size()) + "]");
  }
  auto down = DiscriminatorDownsample(d, input_resolution);
  int64_t res = input_resolution, t = frames;
  for (size_t i = 0; i < down.size(); ++i) {
    if (!down[i]) continue;
    if (res < 2 || res % 2 != 0) {
      return Status::InvalidArgument(path + ".downsample[" + std::to_string(i) + "]: the map is " +
                                     std::to_string(res) + "x" + std::to_string(res) +
                                     " there (input " + std::to_string(input_resolution) +
                                     "), cannot halve it");
    }
    res /= 2;
    if (three_d && d.downsample_time() && static_cast<int>(i) < d.blocks_3d()) {
      if (t < 2 || t % 2 != 0) {
        return Status::InvalidArgument(path + ".downsample_time: block " + std::to_string(i) +
                                       " sees " + std::to_string(t) +
                                       " time steps, cannot halve them");
      }
      t /= 2;
    }
  }
  return Status::Ok();
}

std::string Millions(int64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld (%.2fM)", static_cast<long long>(n), n / 1e6);
  return buf;
}

}  // namespace

std::string NetworkName(int level, char network) {
  return "level" + std::to_string(level + 1) + "/" + std::string(1, network);
}

std::vector<bool> DiscriminatorDownsample(const CvgDiscriminatorConfig& d,
                                          int64_t input_resolution) {
  const int n = d.channel_multipliers_size();
  std::vector<bool> out(n, false);
  if (d.downsample_size() == n) {
    for (int i = 0; i < n; ++i) out[i] = d.downsample(i);
    return out;
  }
  int64_t res = input_resolution;
  for (int i = 0; i + 1 < n; ++i) {
    if (res > 1) {
      out[i] = true;
      res /= 2;
    }
  }
  return out;
}

std::vector<bool> GeneratorUpsample(const CvgConfig& config, int level) {
  const auto& g = config.levels(level).generator();
  const int n = g.channel_multipliers_size();
  std::vector<bool> out(n, true);
  if (g.upsample_size() == n) {
    for (int i = 0; i < n; ++i) out[i] = g.upsample(i);
  } else if (level == 0 && n > 0) {
    out[n - 1] = false;
  }
  return out;
}

Status ApplyCvgDefaults(CvgConfig* c) {
  if (c->levels_size() == 0) {
    return Status::InvalidArgument("model.cvg.levels: at least one level is required");
  }
  if (c->image_channels() == 0) c->set_image_channels(3);
  if (c->class_embedding_dim() == 0) c->set_class_embedding_dim(128);
  if (c->sn_iterations() == 0) c->set_sn_iterations(1);
  if (c->bn_eps() == 0) c->set_bn_eps(1e-5);
  if (c->bn_momentum() == 0) c->set_bn_momentum(0.1);
  const int L = c->levels_size();
  for (int i = 0; i < L; ++i) {
    CvgLevelConfig* lv = c->mutable_levels(i);
    auto* g = lv->mutable_generator();
    if (g->base_channels() == 0) g->set_base_channels(128);
    if (g->stem_resolution() == 0) g->set_stem_resolution(4);
    if (g->z_dim() == 0) g->set_z_dim(128);
    if (g->channel_multipliers_size() == 0 && lv->resolution() > 0 &&
        lv->resolution() % g->stem_resolution() == 0 &&
        IsPowerOfTwo(lv->resolution() / g->stem_resolution())) {
      const int ups = Log2(lv->resolution() / g->stem_resolution());
      for (int m : DefaultGeneratorMultipliers(i, i == 0 ? ups + 1 : ups)) {
        g->add_channel_multipliers(m);
      }
    }
    if (i > 0) {
      if (lv->temporal_upsample() == 0) lv->set_temporal_upsample(2);
      if (lv->frames() == 0) lv->set_frames(c->levels(i - 1).frames() * lv->temporal_upsample());
    }
    if (lv->standing_stat_passes() == 0) lv->set_standing_stat_passes(200);
    DefaultDiscriminator(lv->mutable_spatial(), i, lv->resolution());
    DefaultDiscriminator(lv->mutable_temporal(), i, lv->resolution());
    if (i > 0 && !lv->no_matching_discriminator()) {
      DefaultDiscriminator(lv->mutable_matching(), i, lv->resolution());
    }
  }
  // Frame skips, from the last level backwards.
  if (c->levels(L - 1).frame_skip() == 0) c->mutable_levels(L - 1)->set_frame_skip(1);
  for (int i = L - 1; i > 0; --i) {
    if (c->levels(i - 1).frame_skip() == 0) {
      c->mutable_levels(i - 1)->set_frame_skip(c->levels(i).frame_skip() *
                                               std::max(1, c->levels(i).temporal_upsample()));
    }
  }
  for (int i = 0; i < L; ++i) {
    CvgLevelConfig* lv = c->mutable_levels(i);
    if (lv->spatial_frames() == 0) {
      const LevelGeometry geo = Geometry(*c, i);
      lv->set_spatial_frames(
          static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(8, geo.train_frames))));
    }
  }
  return Status::Ok();
}

LevelGeometry Geometry(const CvgConfig& c, int level) {
  const CvgLevelConfig& lv = c.levels(level);
  LevelGeometry g;
  g.level = level;
  g.resolution = lv.resolution();
  g.frames = lv.frames();
  g.spatial_frames = lv.spatial_frames();
  if (level == 0) {
    g.train_frames = lv.frames();
    return g;
  }
  const CvgLevelConfig& prev = c.levels(level - 1);
  g.temporal_upsample = std::max(1, lv.temporal_upsample());
  g.input_resolution = prev.resolution();
  g.spatial_upsample = prev.resolution() > 0 ? lv.resolution() / prev.resolution() : 0;
  g.input_frames = lv.window_frames() > 0 ? lv.window_frames() : prev.frames();
  g.train_frames = g.input_frames * g.temporal_upsample;
  g.matching = !lv.no_matching_discriminator();
  return g;
}

Status ValidateCvg(const CvgConfig& c) {
  if (c.levels_size() == 0) {
    return Status::InvalidArgument("model.cvg.levels: at least one level is required");
  }
  auto bad = [](const std::string& field, auto value, const std::string& why) {
    std::ostringstream os;
    os << field << "=" << value << ": " << why;
    return Status::InvalidArgument(os.str());
  };
  if (c.num_classes() < 0) return bad("model.cvg.num_classes", c.num_classes(), "must be >= 0");
  if (c.image_channels() <= 0) {
    return bad("model.cvg.image_channels", c.image_channels(), "must be > 0");
  }
  if (c.num_classes() > 0 && c.class_embedding_dim() <= 0) {
    return bad("model.cvg.class_embedding_dim", c.class_embedding_dim(), "must be > 0");
  }
  if (c.sn_iterations() < 1)
    return bad("model.cvg.sn_iterations", c.sn_iterations(), "must be >= 1");
  if (!(c.bn_eps() > 0)) return bad("model.cvg.bn_eps", c.bn_eps(), "must be > 0");
  if (!(c.bn_momentum() > 0 && c.bn_momentum() <= 1)) {
    return bad("model.cvg.bn_momentum", c.bn_momentum(), "must be in (0, 1]");
  }
  for (int i = 0; i < c.levels_size(); ++i) {
    const CvgLevelConfig& lv = c.levels(i);
    const std::string p = LevelPath(i);
    if (lv.resolution() <= 0) return bad(p + ".resolution", lv.resolution(), "must be > 0");
    if (lv.frames() <= 0) return bad(p + ".frames", lv.frames(), "must be > 0");
    const auto& g = lv.generator();
    const std::string gp = p + ".generator";
    if (g.base_channels() <= 0) return bad(gp + ".base_channels", g.base_channels(), "must be > 0");
    if (g.z_dim() <= 0) return bad(gp + ".z_dim", g.z_dim(), "must be > 0");
    if (g.stem_resolution() <= 0) {
      return bad(gp + ".stem_resolution", g.stem_resolution(), "must be > 0");
    }
    if (g.channel_multipliers_size() == 0) {
      return Status::InvalidArgument(gp +
                                     ".channel_multipliers: required (no default for resolution " +
                                     std::to_string(lv.resolution()) + " from stem " +
                                     std::to_string(g.stem_resolution()) + ")");
    }
    for (int u = 0; u < g.channel_multipliers_size(); ++u) {
      if (g.channel_multipliers(u) <= 0) {
        return bad(gp + ".channel_multipliers[" + std::to_string(u) + "]", g.channel_multipliers(u),
                   "must be > 0");
      }
    }
    if (g.upsample_size() != 0 && g.upsample_size() != g.channel_multipliers_size()) {
      return Status::InvalidArgument(gp + ".upsample: " + std::to_string(g.upsample_size()) +
                                     " entries for " +
                                     std::to_string(g.channel_multipliers_size()) + " units");
    }
    int64_t reach = g.stem_resolution();
    int ups = 0;
    for (bool u : GeneratorUpsample(c, i)) {
      if (u) {
        reach *= 2;
        ++ups;
      }
    }
    if (reach != lv.resolution()) {
      return bad(p + ".resolution", lv.resolution(),
                 "the generator reaches " + std::to_string(reach) + " (stem " +
                     std::to_string(g.stem_resolution()) + " upsampled by 2 in " +
                     std::to_string(ups) + " of its " +
                     std::to_string(g.channel_multipliers_size()) + " units)");
    }
    if (lv.frame_skip() < 1) return bad(p + ".frame_skip", lv.frame_skip(), "must be >= 1");
    if (lv.standing_stat_passes() < 1) {
      return bad(p + ".standing_stat_passes", lv.standing_stat_passes(), "must be >= 1");
    }
    if (i > 0) {
      const CvgLevelConfig& prev = c.levels(i - 1);
      if (lv.temporal_upsample() < 1) {
        return bad(p + ".temporal_upsample", lv.temporal_upsample(), "must be >= 1");
      }
      if (lv.frames() != prev.frames() * lv.temporal_upsample()) {
        return bad(p + ".frames", lv.frames(),
                   "must be levels[" + std::to_string(i - 1) + "].frames (" +
                       std::to_string(prev.frames()) + ") x temporal_upsample (" +
                       std::to_string(lv.temporal_upsample()) + ")");
      }
      if (lv.resolution() % prev.resolution() != 0 ||
          !IsPowerOfTwo(lv.resolution() / prev.resolution())) {
        return bad(p + ".resolution", lv.resolution(),
                   "must be the previous level's resolution (" + std::to_string(prev.resolution()) +
                       ") times a power of two");
      }
      if (lv.window_frames() < 0 || lv.window_frames() > prev.frames()) {
        return bad(p + ".window_frames", lv.window_frames(),
                   "must be in [0, " + std::to_string(prev.frames()) +
                       "] (0: the previous level's whole output)");
      }
      if (prev.frame_skip() != lv.frame_skip() * lv.temporal_upsample()) {
        return bad(LevelPath(i - 1) + ".frame_skip", prev.frame_skip(),
                   "must be levels[" + std::to_string(i) + "].frame_skip (" +
                       std::to_string(lv.frame_skip()) + ") x temporal_upsample (" +
                       std::to_string(lv.temporal_upsample()) + ")");
      }
    } else if (lv.window_frames() != 0) {
      return bad(p + ".window_frames", lv.window_frames(), "level 1 has no input window");
    }
    const LevelGeometry geo = Geometry(c, i);
    if (lv.spatial_frames() < 1 || lv.spatial_frames() > geo.train_frames) {
      return bad(p + ".spatial_frames", lv.spatial_frames(),
                 "must be in [1, " + std::to_string(geo.train_frames) +
                     "] (frames generated in training)");
    }
    if (lv.resolution() % 2 != 0) {
      return bad(p + ".resolution", lv.resolution(), "must be even (D_T pools 2x2)");
    }
    FC_RETURN_IF_ERROR(
        CheckDiscriminator(lv.spatial(), p + ".spatial", lv.resolution(), geo.train_frames, false));
    FC_RETURN_IF_ERROR(CheckDiscriminator(lv.temporal(), p + ".temporal", lv.resolution() / 2,
                                          geo.train_frames, true));
    if (geo.matching) {
      FC_RETURN_IF_ERROR(CheckDiscriminator(lv.matching(), p + ".matching", geo.input_resolution,
                                            geo.input_frames, true));
    }
  }
  return Status::Ok();
}

Status ApplyCvgRunDefaults(framecast::RunConfig* config) {
  if (!config->model().has_cvg()) return Status::Ok();
  return ApplyCvgDefaults(config->mutable_model()->mutable_cvg());
}

Status ValidateCvgRun(const framecast::RunConfig& config) {
  if (!config.model().has_cvg()) return Status::Ok();
  const CvgConfig& c = config.model().cvg();
  FC_RETURN_IF_ERROR(ValidateCvg(c));
  if (config.stages_size() != c.levels_size()) {
    return Status::InvalidArgument("stages: " + std::to_string(config.stages_size()) +
                                   " stages for " + std::to_string(c.levels_size()) +
                                   " cascade levels (model.cvg.levels); CVG trains one level per "
                                   "stage, in order");
  }
  std::vector<std::string> want;
  for (int i = 0; i < c.levels_size(); ++i) {
    want.push_back(NetworkName(i, 'G'));
    want.push_back(NetworkName(i, 'D'));
  }
  for (int i = 0; i < config.optimizers_size(); ++i) {
    const auto& n = config.optimizers(i).network();
    if (std::find(want.begin(), want.end(), n) == want.end()) {
      return Status::InvalidArgument("optimizers[" + std::to_string(i) + "].network=\"" + n +
                                     "\": not a network of this cascade (level<k>/G or "
                                     "level<k>/D, k = 1.." +
                                     std::to_string(c.levels_size()) + ")");
    }
    if (!config.optimizers(i).has_adam()) {
      return Status::InvalidArgument("optimizers[" + std::to_string(i) +
                                     "]: CVG networks use Adam (set adam { ... })");
    }
  }
  for (const auto& n : want) {
    bool found = false;
    for (const auto& o : config.optimizers()) found = found || o.network() == n;
    if (!found) {
      return Status::InvalidArgument("optimizers: no entry for network \"" + n + "\"");
    }
  }
  return Status::Ok();
}

std::string ParameterSummary(const CvgConfig& c) {
  std::ostringstream os;
  os << "CVG cascade: " << c.levels_size() << " level(s), "
     << (c.num_classes() > 0 ? std::to_string(c.num_classes()) + " classes" : "unconditional")
     << ", " << c.image_channels() << " channel(s)\n";
  nn::MetaInitGuard meta;
  int64_t total_g = 0, total_d = 0;
  for (int i = 0; i < c.levels_size(); ++i) {
    const LevelGeometry geo = Geometry(c, i);
    std::shared_ptr<CvgGenerator> g;
    if (i == 0) {
      g = std::make_shared<Level1Generator>(c, i);
    } else {
      g = std::make_shared<UpscaleGenerator>(c, i);
    }
    CvgDiscriminators d(c, i);
    const int64_t ng = nn::CountParameters(*g), nd = nn::CountParameters(*d);
    total_g += ng;
    total_d += nd;
    os << NetworkName(i, 'G').substr(0, NetworkName(i, 'G').size() - 2) << ": ";
    if (i == 0) {
      os << "z" << (c.num_classes() > 0 ? ",y" : "") << " -> " << geo.train_frames << "/"
         << geo.resolution << "x" << geo.resolution;
    } else {
      os << geo.input_frames << "/" << geo.input_resolution << "x" << geo.input_resolution << " -> "
         << geo.train_frames << "/" << geo.resolution << "x" << geo.resolution << " (full "
         << c.levels(i - 1).frames() << " -> " << geo.frames << ")";
    }
    os << "\n  G " << Millions(ng) << "\n  D " << Millions(nd) << ": D_S "
       << Millions(nn::CountParameters(*d->spatial)) << ", D_T "
       << Millions(nn::CountParameters(*d->temporal));
    if (d->matching) os << ", D_M " << Millions(nn::CountParameters(*d->matching));
    os << "\n";
  }
  os << "total: G " << Millions(total_g) << ", D " << Millions(total_d) << "\n";
  return os.str();
}

Status ValidateCvgData(const framecast::RunConfig& c) {
  if (!c.model().has_cvg()) return Status::Ok();
  const auto& cvg = c.model().cvg();
  if (cvg.levels_size() == 0) return Status::Ok();  // ValidateCvg reports it
  const auto& last = cvg.levels(cvg.levels_size() - 1);
  const auto& d = c.data();
  if (d.has_procedural_blobs())
    return Status::InvalidArgument(
        "data: the cvg family needs video clips (moving_mnist or clips)");
  const int64_t len = d.context_frames() + d.predicted_frames();
  if (len != last.frames()) {
    return Status::InvalidArgument(
        "data.predicted_frames=" + std::to_string(d.predicted_frames()) +
        ": CVG clips are the last level's full length (model.cvg.levels[" +
        std::to_string(cvg.levels_size() - 1) + "].frames = " + std::to_string(last.frames()) +
        ", with data.context_frames " + std::to_string(d.context_frames()) + ")");
  }
  for (int i = 0; i < cvg.levels_size(); ++i) {
    if (last.frame_skip() < 1 || cvg.levels(i).frame_skip() % last.frame_skip() != 0) {
      return Status::InvalidArgument("model.cvg.levels[" + std::to_string(i) +
                                     "].frame_skip=" + std::to_string(cvg.levels(i).frame_skip()) +
                                     ": not a multiple of the last level's frame skip");
    }
  }
  if (d.has_moving_mnist()) {
    const auto& mm = d.moving_mnist();
    if (cvg.image_channels() != 1)
      return Status::InvalidArgument("model.cvg.image_channels: Moving MNIST clips have 1 channel");
    if (mm.image_size() != last.resolution()) {
      return Status::InvalidArgument(
          "data.moving_mnist.image_size=" + std::to_string(mm.image_size()) +
          ": the last cascade level's resolution is " + std::to_string(last.resolution()));
    }
    if (cvg.num_classes() > 0 && (mm.num_digits() != 1 || cvg.num_classes() > 10)) {
      return Status::InvalidArgument(
          "model.cvg.num_classes=" + std::to_string(cvg.num_classes()) +
          ": class-conditional Moving MNIST needs num_digits 1 (the item's label is the class) "
          "and at most 10 classes");
    }
  }
  if (d.has_clips() && d.clips().image_size() != 0 && d.clips().image_size() != last.resolution()) {
    return Status::InvalidArgument(
        "data.clips.image_size=" + std::to_string(d.clips().image_size()) +
        ": the last cascade level's resolution is " + std::to_string(last.resolution()));
  }
  return Status::Ok();
}

}  // namespace fc::models::cvg
