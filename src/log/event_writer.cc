#include "log/event_writer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>

#include "log/event.pb.h"
#include "log/hparams.pb.h"
#include "log/tfrecord.h"
#include "util/files.h"

namespace fc::log {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

std::string EventFileName(int64_t unix_seconds, const std::string& host, int pid) {
  return "events.out.tfevents." + std::to_string(unix_seconds) + "." + host + "." +
         std::to_string(pid);
}

Result<std::unique_ptr<EventWriter>> EventWriter::Open(const std::string& dir,
                                                       const EventWriterOptions& options) {
  FC_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<EventWriter> w(new EventWriter());
  w->options_ = options;
  const double now = WallSeconds();
  w->path_ = dir + "/" + EventFileName(static_cast<int64_t>(now), HostName(), getpid());
  // A second writer of this process within the same second gets a file of its own.
  const std::string base = w->path_;
  for (int i = 1; Exists(w->path_); ++i) w->path_ = base + "." + std::to_string(i);
  FC_ASSIGN_OR_RETURN(w->file_, OpenForAppend(w->path_));
  w->last_flush_ = SteadySeconds();
  framecast::tb::Event first;
  first.set_wall_time(now);
  first.set_step(0);
  first.set_file_version("brain.Event:2");
  FC_RETURN_IF_ERROR(w->Append(first));
  FC_RETURN_IF_ERROR(w->Flush());
  return w;
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) {
    (void)Flush();
    std::fclose(file_);
  }
}

Status EventWriter::Append(const framecast::tb::Event& event) {
  const std::string record = FrameRecord(event.SerializeAsString());
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    return Status::IoError("cannot write " + path_ + ": " + std::strerror(errno));
  ++records_;
  if (++unflushed_ >= options_.flush_every_records ||
      SteadySeconds() - last_flush_ >= options_.flush_every_seconds) {
    return Flush();
  }
  return Status::Ok();
}

Status EventWriter::Flush() {
  unflushed_ = 0;
  last_flush_ = SteadySeconds();
  if (std::fflush(file_) != 0)
    return Status::IoError("cannot write " + path_ + ": " + std::strerror(errno));
  return Status::Ok();
}

Status EventWriter::AddScalars(int64_t step,
                               const std::vector<std::pair<std::string, double>>& values) {
  framecast::tb::Event e;
  e.set_wall_time(WallSeconds());
  e.set_step(step);
  auto* summary = e.mutable_summary();
  for (const auto& [tag, value] : values) {
    auto* v = summary->add_value();
    v->set_tag(tag);
    v->set_simple_value(static_cast<float>(value));
  }
  return Append(e);
}

Status EventWriter::AddText(const std::string& tag, int64_t step, const std::string& markdown) {
  framecast::tb::Event e;
  e.set_wall_time(WallSeconds());
  e.set_step(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  auto* t = v->mutable_tensor();
  t->set_dtype(framecast::tb::DT_STRING);
  t->mutable_tensor_shape();  // a scalar string
  t->add_string_val(markdown);
  return Append(e);
}

namespace {
// One hparams summary value (TensorBoard's hparams plugin: tag "_hparams_/...", plugin data in the
// metadata, an empty string tensor as the value).
Status AppendHparams(const std::string& tag, const framecast::tb::hparams::HParamsPluginData& data,
                     const std::function<Status(const framecast::tb::Event&)>& append) {
  framecast::tb::Event e;
  e.set_wall_time(WallSeconds());
  e.set_step(0);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* pd = v->mutable_metadata()->mutable_plugin_data();
  pd->set_plugin_name("hparams");
  pd->set_content(data.SerializeAsString());
  auto* t = v->mutable_tensor();
  t->set_dtype(framecast::tb::DT_STRING);
  t->mutable_tensor_shape();
  t->add_string_val("");
  return append(e);
}
}  // namespace

Status EventWriter::AddHparamsStart(const std::vector<HParam>& hparams, const std::string& group) {
  framecast::tb::hparams::HParamsPluginData d;
  auto* s = d.mutable_session_start_info();
  for (const auto& h : hparams) {
    auto& v = (*s->mutable_hparams())[h.name];
    if (h.kind == HParam::kNumber) v.set_number_value(h.number);
    if (h.kind == HParam::kString) v.set_string_value(h.text);
    if (h.kind == HParam::kBool) v.set_bool_value(h.flag);
  }
  s->set_group_name(group);
  s->set_start_time_secs(WallSeconds());
  return AppendHparams("_hparams_/session_start_info", d,
                       [this](const framecast::tb::Event& e) { return Append(e); });
}

Status EventWriter::AddHparamsEnd(bool success) {
  framecast::tb::hparams::HParamsPluginData d;
  auto* s = d.mutable_session_end_info();
  s->set_status(success ? framecast::tb::hparams::STATUS_SUCCESS
                        : framecast::tb::hparams::STATUS_FAILURE);
  s->set_end_time_secs(WallSeconds());
  return AppendHparams("_hparams_/session_end_info", d,
                       [this](const framecast::tb::Event& e) { return Append(e); });
}

Status EventWriter::AddImage(const std::string& tag, int64_t step, const std::string& png,
                             int height, int width, int channels) {
  framecast::tb::Event e;
  e.set_wall_time(WallSeconds());
  e.set_step(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* image = v->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(channels);
  image->set_encoded_image_string(png);
  return Append(e);
}

}  // namespace fc::log
