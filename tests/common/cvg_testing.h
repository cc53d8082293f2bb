// The tiny two-level class-conditional CVG cascade the CVG and performance tests train: 16x16
// Moving Fashion-MNIST, 4/8x8 -> 8/16x16 on 2-frame windows (so level 2 trains on windows and
// crops real clips), global batch 4.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/run_config.h"
#include "train/family.h"
#include "train/trainer.h"

namespace fc::testing {

// The cascade's config named `name`, each stage `stage_steps` steps long, with `extra` (more
// top-level text-format fields, e.g. output_dir or performance) appended; defaults applied and
// validated (failures are test failures).
inline framecast::RunConfig TinyCascadeConfig(const std::string& name, int stage_steps,
                                              const std::string& extra = "") {
  train::InstallFamilyConfigHooks();
  const std::string steps = std::to_string(stage_steps);
  auto c = config::ParseRunConfigText("name: \"" + name + "\"\n" + R"pb(
                                            seed: 5
                                            data {
                                              global_batch: 4
                                              predicted_frames: 8
                                              epoch_size: 8
                                              loader_threads: 1
                                              moving_mnist {
                                                convention: SVG
                                                num_digits: 1
                                                image_size: 16
                                                digit_size: 8
                                                max_speed: 2
                                              }
                                            }
                                            model {
                                              cvg {
                                                num_classes: 10
                                                image_channels: 1
                                                class_embedding_dim: 4
                                                levels {
                                                  resolution: 8
                                                  frames: 4
                                                  frame_skip: 2
                                                  generator {
                                                    base_channels: 2
                                                    channel_multipliers: [ 2, 1 ]
                                                    z_dim: 4
                                                    stem_resolution: 4
                                                  }
                                                  spatial {
                                                    base_channels: 2
                                                    channel_multipliers: [ 1, 2 ]
                                                  }
                                                  temporal {
                                                    base_channels: 2
                                                    channel_multipliers: [ 1, 2 ]
                                                    blocks_3d: 1
                                                  }
                                                  spatial_frames: 2
                                                  standing_stat_passes: 2
                                                }
                                                levels {
                                                  resolution: 16
                                                  frames: 8
                                                  frame_skip: 1
                                                  temporal_upsample: 2
                                                  window_frames: 2
                                                  generator {
                                                    base_channels: 2
                                                    channel_multipliers: [ 2, 1 ]
                                                    z_dim: 4
                                                    stem_resolution: 4
                                                  }
                                                  spatial {
                                                    base_channels: 2
                                                    channel_multipliers: [ 1, 2 ]
                                                  }
                                                  temporal {
                                                    base_channels: 2
                                                    channel_multipliers: [ 1, 2 ]
                                                    blocks_3d: 1
                                                  }
                                                  matching {
                                                    base_channels: 2
                                                    channel_multipliers: [ 1, 2 ]
                                                    blocks_3d: 1
                                                  }
                                                  spatial_frames: 2
                                                  standing_stat_passes: 2
                                                }
                                              }
                                            }
                                            optimizers {
                                              network: "level1/G"
                                              adam { beta1: 0 beta2: 0.999 eps: 1e-4 }
                                              lr: 1e-3
                                            }
                                            optimizers {
                                              network: "level1/D"
                                              adam { beta1: 0 beta2: 0.999 eps: 1e-4 }
                                              lr: 2e-3
                                            }
                                            optimizers {
                                              network: "level2/G"
                                              adam { beta1: 0 beta2: 0.999 eps: 1e-4 }
                                              lr: 1e-3
                                            }
                                            optimizers {
                                              network: "level2/D"
                                              adam { beta1: 0 beta2: 0.999 eps: 1e-4 }
                                              lr: 2e-3
                                            }
                                          )pb" +
                                          "stages { name: \"level1\" steps: " + steps +
                                          " }\nstages { name: \"level2\" steps: " + steps + " }\n" +
                                          extra,
                                      "tiny cascade");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return framecast::RunConfig();
  config::ApplyDefaults(&c.value());
  Status v = config::Validate(c.value());
  EXPECT_TRUE(v.ok()) << v.ToString();
  return c.value();
}

}  // namespace fc::testing
