#include "log/event_writer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "log/event.pb.h"
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
