#include "data/sources.h"

#include <ATen/ATen.h>

#include <cctype>

#include "data/idx.h"
#include "data/moving_mnist.h"
#include "data/prepared.h"
#include "data/rng.h"
#include "util/files.h"
#include "util/logging.h"

namespace fc::data {

ClipSource::~ClipSource() = default;

Result<ClipBatch> ReadClips(const ClipSource& source, int64_t begin, int64_t end,
                            int64_t clip_length) {
  std::vector<at::Tensor> frames;
  std::vector<int64_t> labels;
  for (int64_t i = begin; i < end; ++i) {
    FC_ASSIGN_OR_RETURN(auto clip, source.Get(i, 0));
    frames.push_back(clip.frames);
    labels.push_back(clip.label);
  }
  ClipBatch b;
  b.frames =
      frames.empty()
          ? at::empty({0, clip_length, source.channels(), source.image_size(), source.image_size()},
                      at::kByte)
          : at::stack(frames);
  b.labels = at::tensor(labels, at::kLong);
  return b;
}

namespace {

using framecast::DataConfig;
using framecast::MovingMnistData;

Status Invalid(const std::string& field, const std::string& rule) {
  return Status::InvalidArgument(field + ": " + rule);
}

const char* ConventionName(MovingMnistData::Convention c) {
  switch (c) {
    case MovingMnistData::SVG:
      return "SVG";
    case MovingMnistData::SRVP:
      return "SRVP";
    case MovingMnistData::DETERMINISTIC:
      return "DETERMINISTIC";
    default:
      return "?";
  }
}

class MovingMnistSource : public ClipSource {
 public:
  // num_classes > 0: one item per clip and a label file; the clip's label is the item's class.
  MovingMnistSource(MovingMnist gen, int64_t size, int64_t length, bool test, uint64_t test_seed,
                    int64_t num_classes)
      : gen_(std::move(gen)),
        size_(size),
        length_(length),
        test_(test),
        test_seed_(test_seed),
        num_classes_(num_classes) {}
  int64_t size() const override { return size_; }
  int64_t channels() const override { return 1; }
  int64_t image_size() const override { return gen_.options().image_size; }
  int64_t num_classes() const override { return num_classes_; }
  Result<Clip> Get(int64_t index, uint64_t key) const override {
    if (index < 0 || index >= size_) {
      return Status::InvalidArgument(Describe() + ": example " + std::to_string(index) +
                                     " outside [0, " + std::to_string(size_) + ")");
    }
    Clip c;
    std::vector<DigitTrack> tracks;
    c.frames = test_ ? gen_.Generate(test_seed_, index, length_, &tracks)
                     : gen_.Generate(key, index, length_, &tracks);
    if (num_classes_ > 0 && tracks.size() == 1) c.label = tracks[0].label;
    return c;
  }
  std::string Describe() const override {
    return std::string("moving_mnist ") + ConventionName(gen_.options().convention) +
           (test_ ? " test" : " train");
  }

 private:
  MovingMnist gen_;
  int64_t size_, length_;
  bool test_;
  uint64_t test_seed_;
  int64_t num_classes_;
};

class PreparedSource : public ClipSource {
 public:
  PreparedSource(std::shared_ptr<const PreparedDataset> ds, const PreparedSplit* split,
                 std::vector<int64_t> usable, int64_t length, int64_t stride, int64_t resize,
                 bool test)
      : ds_(std::move(ds)),
        split_(split),
        usable_(std::move(usable)),
        length_(length),
        stride_(stride),
        resize_(resize),
        test_(test) {}
  int64_t size() const override { return static_cast<int64_t>(usable_.size()); }
  int64_t channels() const override { return split_->channels(); }
  int64_t image_size() const override { return resize_ > 0 ? resize_ : split_->height(); }
  int64_t num_classes() const override { return ds_->manifest().label_names_size(); }
  Result<Clip> Get(int64_t index, uint64_t key) const override {
    if (index < 0 || index >= size()) {
      return Status::InvalidArgument(Describe() + ": example " + std::to_string(index) +
                                     " outside [0, " + std::to_string(size()) + ")");
    }
    const int64_t seq = usable_[index];
    const int64_t t = split_->frames(seq);
    int64_t count = length_, start = 0;
    if (count == 0) count = (t - 1) / stride_ + 1;
    const int64_t span = (count - 1) * stride_ + 1;
    if (!test_) start = CounterRng(key).UniformInt(0, t - span);
    FC_ASSIGN_OR_RETURN(at::Tensor thwc, split_->Read(seq, start, count, stride_));
    Clip c;
    c.frames = thwc.permute({0, 3, 1, 2}).contiguous();
    if (resize_ > 0 && (resize_ != c.frames.size(2) || resize_ != c.frames.size(3))) {
      at::Tensor f = c.frames.to(at::kFloat);
      f = at::_upsample_bilinear2d_aa(f, {resize_, resize_}, /*align_corners=*/false);
      c.frames = f.round_().clamp_(0, 255).to(at::kByte);
    }
    c.label = split_->label(seq);
    return c;
  }
  std::string Describe() const override { return "clips " + ds_->dir() + " " + split_->name(); }

 private:
  std::shared_ptr<const PreparedDataset> ds_;
  const PreparedSplit* split_;
  std::vector<int64_t> usable_;
  int64_t length_, stride_, resize_;
  bool test_;
};

// *num_classes: max label + 1 when clips hold one item and labels are read, else 0.
Result<MovingMnist> LoadMovingMnist(const MovingMnistData& m, bool test, int64_t* num_classes) {
  *num_classes = 0;
  const std::string digits = test ? m.test_digits() : m.train_digits();
  const std::string labels = test ? m.test_labels() : m.train_labels();
  const std::string field =
      std::string("data.moving_mnist.") + (test ? "test_digits" : "train_digits");
  auto images = ReadIdxImages(digits);
  if (!images.ok()) return images.status().WithContext(field);
  at::Tensor lab;
  if (!labels.empty()) {
    auto l = ReadIdxLabels(labels);
    if (!l.ok()) {
      return l.status().WithContext(std::string("data.moving_mnist.") +
                                    (test ? "test_labels" : "train_labels"));
    }
    lab = l.value();
    if (m.num_digits() == 1 && lab.numel() > 0) *num_classes = lab.max().item<int64_t>() + 1;
  }
  MovingMnistOptions o;
  o.convention = m.convention();
  o.num_digits = m.num_digits();
  o.image_size = m.image_size();
  o.digit_size = m.digit_size();
  o.max_speed = m.max_speed();
  return MovingMnist::Create(images.value(), lab, o);
}

Result<std::unique_ptr<ClipSource>> MakeSource(const DataConfig& c, int64_t clip_length,
                                               bool test) {
  if (clip_length < 0 || (clip_length == 0 && !(test && c.has_clips()))) {
    return Status::InvalidArgument("data: clip length " + std::to_string(clip_length) +
                                   " (context_frames + predicted_frames) must be >= 1");
  }
  if (c.has_moving_mnist()) {
    int64_t classes = 0;
    FC_ASSIGN_OR_RETURN(MovingMnist gen, LoadMovingMnist(c.moving_mnist(), test, &classes));
    const int64_t size = test ? c.eval_sequences() : c.epoch_size();
    if (size < 1) {
      return Invalid(test ? "data.eval_sequences" : "data.epoch_size", "must be >= 1");
    }
    return std::unique_ptr<ClipSource>(new MovingMnistSource(
        std::move(gen), size, clip_length, test, c.moving_mnist().test_seed(), classes));
  }
  if (c.has_clips()) {
    const auto& cl = c.clips();
    auto ds = PreparedDataset::Open(cl.path());
    if (!ds.ok()) return ds.status().WithContext("data.clips.path");
    const std::string split_name = test ? "test" : "train";
    auto split = ds.value()->split(split_name);
    if (!split.ok()) return split.status().WithContext("data.clips.path");
    const PreparedSplit* s = split.value();
    const int64_t stride = std::max<int64_t>(1, cl.frame_stride());
    const int64_t span = clip_length > 0 ? (clip_length - 1) * stride + 1 : 1;
    std::vector<int64_t> usable;
    for (int64_t i = 0; i < s->size(); ++i) {
      if (s->frames(i) >= span) {
        usable.push_back(i);
      } else if (test) {
        return Status::InvalidArgument(
            "data.clips.path: " + cl.path() + " test sequence " + std::to_string(i) + " (" +
            s->sequence_name(i) + ") has " + std::to_string(s->frames(i)) +
            " frames; test clips need " + std::to_string(span) + " (clip length " +
            std::to_string(clip_length) + ", frame_stride " + std::to_string(stride) + ")");
      }
    }
    if (usable.empty()) {
      return Status::InvalidArgument("data.clips.path: " + cl.path() + " has no " + split_name +
                                     " sequence with " + std::to_string(span) + " frames");
    }
    if (static_cast<int64_t>(usable.size()) < s->size()) {
      LogWarning(cl.path() + ": " + std::to_string(s->size() - usable.size()) + " of " +
                 std::to_string(s->size()) + " " + split_name + " sequences are shorter than " +
                 std::to_string(span) + " frames and are not used");
    }
    return std::unique_ptr<ClipSource>(new PreparedSource(
        ds.value(), s, std::move(usable), clip_length, stride, cl.image_size(), test));
  }
  if (c.has_procedural_blobs()) {
    return Status::InvalidArgument(
        "data.procedural_blobs: single-frame demo data, served by the demo trainer; clip "
        "workloads use data.moving_mnist or data.clips");
  }
  return Invalid("data", "choose a source (moving_mnist, clips or procedural_blobs)");
}

}  // namespace

Result<std::unique_ptr<ClipSource>> MakeTrainSource(const DataConfig& config, int64_t clip_length) {
  return MakeSource(config, clip_length, /*test=*/false);
}

Result<std::unique_ptr<ClipSource>> MakeTestSource(const DataConfig& config, int64_t clip_length) {
  return MakeSource(config, clip_length, /*test=*/true);
}

Status ApplyDataDefaults(DataConfig* c) {
  if (c->loader_threads() == 0) c->set_loader_threads(2);
  if (c->prefetch_batches() == 0) c->set_prefetch_batches(2);
  if (c->eval_sequences() == 0) c->set_eval_sequences(256);
  if (c->eval_predicted_frames() == 0) c->set_eval_predicted_frames(c->predicted_frames());
  if (c->has_moving_mnist()) {
    auto* m = c->mutable_moving_mnist();
    if (c->epoch_size() == 0 && c->global_batch() > 0) {
      c->set_epoch_size(600 * static_cast<int64_t>(c->global_batch()));
    }
    if (m->train_digits().empty()) {
      m->set_train_digits(kDefaultTrainImages);
      if (m->train_labels().empty()) m->set_train_labels(kDefaultTrainLabels);
    }
    if (m->test_digits().empty()) {
      m->set_test_digits(kDefaultTestImages);
      if (m->test_labels().empty()) m->set_test_labels(kDefaultTestLabels);
    }
    if (m->num_digits() == 0) m->set_num_digits(2);
    if (m->image_size() == 0) m->set_image_size(64);
    if (m->digit_size() == 0) {
      m->set_digit_size(m->convention() == MovingMnistData::SRVP ? 28 : 32);
    }
    if (m->max_speed() == 0) m->set_max_speed(4);
    if (m->test_seed() == 0) m->set_test_seed(42);
  }
  if (c->has_clips() && c->clips().frame_stride() == 0) c->mutable_clips()->set_frame_stride(1);
  return Status::Ok();
}

Status ValidateData(const DataConfig& c, bool check_files) {
  if (c.context_frames() < 0) return Invalid("data.context_frames", "must be >= 0");
  if (c.predicted_frames() < 0) return Invalid("data.predicted_frames", "must be >= 0");
  if (c.eval_predicted_frames() < 0) return Invalid("data.eval_predicted_frames", "must be >= 0");
  if (c.loader_threads() < 1) return Invalid("data.loader_threads", "must be >= 1");
  if (c.prefetch_batches() < 1) return Invalid("data.prefetch_batches", "must be >= 1");
  if (c.eval_sequences() < 1) return Invalid("data.eval_sequences", "must be >= 1");
  if (c.epoch_size() < 0) return Invalid("data.epoch_size", "must be >= 0");
  if (c.has_moving_mnist()) {
    const auto& m = c.moving_mnist();
    const std::string f = "data.moving_mnist.";
    if (!MovingMnistData::Convention_IsValid(m.convention())) {
      return Invalid(f + "convention", "unknown value " + std::to_string(m.convention()));
    }
    if (m.num_digits() < 1) return Invalid(f + "num_digits", "must be >= 1");
    if (m.digit_size() < 1) return Invalid(f + "digit_size", "must be >= 1");
    if (m.max_speed() < 0) return Invalid(f + "max_speed", "must be >= 0");
    const bool srvp = m.convention() == MovingMnistData::SRVP;
    if (m.image_size() < m.digit_size() + (srvp ? 0 : 1)) {
      return Invalid(f + "image_size", "must be " + std::string(srvp ? ">= " : "> ") +
                                           "digit_size (" + std::to_string(m.digit_size()) + ")");
    }
    if (m.image_size() > 4096) return Invalid(f + "image_size", "must be <= 4096");
    const std::pair<const char*, const std::string*> files[] = {{"train_digits", &m.train_digits()},
                                                                {"test_digits", &m.test_digits()},
                                                                {"train_labels", &m.train_labels()},
                                                                {"test_labels", &m.test_labels()}};
    for (const auto& [name, path] : files) {
      if (check_files && !path->empty() && !Exists(*path)) {
        return Invalid(f + name, *path + ": no such file" +
                                     (path->rfind("/usr/share/datasets/fashion-mnist", 0) == 0
                                          ? " (install Debian's dataset-fashion-mnist: "
                                            "launch/setup.sh)"
                                          : ""));
      }
    }
    if (m.train_digits().empty()) return Invalid(f + "train_digits", "required");
    if (m.test_digits().empty()) return Invalid(f + "test_digits", "required");
    if (c.epoch_size() < 1 && c.global_batch() < 1) {
      return Invalid("data.epoch_size", "must be >= 1 (or set data.global_batch)");
    }
  }
  if (c.has_clips()) {
    const auto& cl = c.clips();
    if (cl.path().empty()) return Invalid("data.clips.path", "required (a prepared dataset)");
    if (check_files && !Exists(cl.path() + "/" + kManifestName)) {
      return Invalid("data.clips.path", cl.path() + "/" + kManifestName +
                                            ": missing (run `framecast data prepare` first)");
    }
    if (cl.frame_stride() < 1) return Invalid("data.clips.frame_stride", "must be >= 1");
    if (cl.image_size() < 0) return Invalid("data.clips.image_size", "must be >= 0");
  }
  return Status::Ok();
}

std::string DescribeSubstitute(const framecast::DataConfig& config) {
  if (config.has_procedural_blobs()) {
    return "data: procedural blobs, a synthetic workload (no paper reports numbers on it)";
  }
  if (!config.has_moving_mnist()) return "";
  const std::string& digits = config.moving_mnist().train_digits();
  std::string lower(digits);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower.find("fashion") == std::string::npos) return "";
  return "data: substitute dataset: Moving MNIST drawn with Fashion-MNIST items (" + digits +
         ") instead of the MNIST digits of the papers' Stochastic Moving MNIST; its numbers are "
         "not comparable to the papers' tables";
}

}  // namespace fc::data
