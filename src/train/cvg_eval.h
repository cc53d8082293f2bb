// `framecast eval` for the cvg family, and `framecast eval train-classifier`.
//
// CVG evaluation (collective, every rank): the cascade of a committed step directory (its finished
// levels; a level still training is refused) draws n class-conditional clips (n = --sequences or
// data.eval_sequences; clip i asks for class i % num_classes, noise keyed by (run seed, i), so a
// rerun on the same number of ranks repeats the numbers), sharded over ranks like the HVRNN
// evaluation. Every frame goes through a frame classifier (eval/frame_classifier.h): Inception
// Score, the fraction of frames classified as the asked class, and FID of the frames' features
// against the frames of n real test clips. Two reference rows come from the same protocol: the real
// test clips themselves (their accuracy is the classifier's own) and an untrained generator (the
// config's seed, no checkpoint). FVD on clips when eval.i3d_torchscript is set. Rank 0 writes
// report.json and table.txt into the output directory.
//
// The classifier is eval.classifier_torchscript, or RUN_DIR/classifier.pt, which rank 0 first
// trains (TrainFrameClassifier) if it does not exist.
#pragma once

#include <string>

#include "dist/world.h"
#include "proto/config.pb.h"
#include "train/cvg_family.h"
#include "train/family.h"
#include "util/status.h"

namespace fc::train {

// `framecast eval` of a cascade (CvgFamily().Eval): request.baselines adds the untrained
// generator's row; request.classifier_steps when RUN_DIR/classifier.pt must first be trained.
Status RunCvgEval(const framecast::RunConfig& config, const EvalRequest& request,
                  dist::World& world);

// Evaluation during training (eval.every_steps) of the level a cascade stage trains: the cascade
// of levels 1..stage+1 (the last one in eval mode at its training length, as the sample previews
// draw it) draws eval.sequences_during_training class-conditional clips (clip i asks for class
// i % num_classes, noise keyed by (run seed, i)); their frames are scored like `framecast eval`
// scores them against as many real test clips: FID on the classifier's features, Inception
// Score, and (class-conditional cascades) the fraction classified as the asked class; FVD on
// I3D features with eval.i3d_torchscript. A metric the networks cannot give (FID from a
// classifier without features, FVD from clips of one frame) is NaN. Collective.
class CvgTrainingEval {
 public:
  static std::vector<EvalMetric> Metrics(const framecast::RunConfig& config);
  // Loads the classifier (RunClassifier: eval.classifier_torchscript, or RUN_DIR/classifier.pt,
  // which rank 0 first trains when it does not exist) and I3D. Collective.
  static Result<std::unique_ptr<CvgTrainingEval>> Create(const framecast::RunConfig& config,
                                                         const std::string& run_dir,
                                                         at::Device device,
                                                         dist::Communicator* comm);
  ~CvgTrainingEval();
  // Values in Metrics() order, the same on every rank.
  Result<std::vector<double>> Evaluate(CvgReplica& replica, int stage);

 private:
  struct Impl;
  explicit CvgTrainingEval(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ClassifierTrainOptions {
  int64_t steps = 1500;         // Adam steps
  int64_t clips = 32;           // clips per step
  int64_t frames_per_clip = 4;  // evenly spaced frames of each, at a random offset
  int64_t width = 32;           // the CNN's first width
  int64_t test_clips = 256;
  double lr = 2e-3;
  // Also train on frames viewed at the cascade's coarser level resolutions (area down, bilinear
  // up), so that a level's upsampled samples are classified like its real view.
  bool coarse_views = true;
};
// Trains framecast's frame classifier on the config's training clips (labelled data: the clip's
// label is every frame's class) on this process, logs its accuracy on the held-out clips, and
// saves it as TorchScript at `out` (temp file + rename; the directory must exist). Returns the
// held-out accuracy. Errors name the file or the config field.
Result<double> TrainFrameClassifier(const framecast::RunConfig& config, const std::string& out,
                                    const ClassifierTrainOptions& options);

// framecast eval train-classifier CONFIG --out FILE [--steps N] [--set k=v]
int TrainClassifierCommand(int argc, char** argv, int first);

}  // namespace fc::train
