#include "data/decode.h"

#include <ATen/ATen.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstring>
#include <mutex>

#include "util/files.h"

namespace fc::data {
namespace {

// FFmpeg's own log lines are kept (per thread) for our error messages instead of going to stderr.
thread_local std::string t_last_av_log;

void AvLogCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  int prefix = 1;
  av_log_format_line(avcl, level, fmt, vl, line, sizeof(line), &prefix);
  std::string s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (!s.empty()) t_last_av_log = s;
}

void InitFfmpegLogging() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(AvLogCallback); });
}

std::string AvError(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s = buf;
  if (!t_last_av_log.empty()) s += " (" + t_last_av_log + ")";
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Extension(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || name.find('/', dot) != std::string::npos) return "";
  return Lower(name.substr(dot + 1));
}

// Owns the FFmpeg contexts of one decode call.
struct Decoder {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* dec = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  SwsContext* to_rgb = nullptr;
  SwsContext* resize = nullptr;
  ~Decoder() {
    sws_freeContext(resize);
    sws_freeContext(to_rgb);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
  }
};

// Converts one decoded frame: native -> RGB24/GRAY8, centre crop, area resize; uint8 [H, W, C].
Result<at::Tensor> ConvertFrame(Decoder* d, const AVFrame* f, const FrameOptions& o,
                                const std::string& where) {
  const int w = f->width, h = f->height, c = o.channels;
  const AVPixelFormat out_fmt = c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  if (w <= 0 || h <= 0) return Status::Corruption(where + ": frame has no pixels");
  d->to_rgb = sws_getCachedContext(d->to_rgb, w, h, static_cast<AVPixelFormat>(f->format), w, h,
                                   out_fmt, SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                   nullptr, nullptr, nullptr);
  if (d->to_rgb == nullptr) {
    const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format));
    return Status::Unavailable(where + ": swscale cannot convert pixel format " +
                               std::string(name != nullptr ? name : "?"));
  }
  at::Tensor full = at::empty({h, w, c}, at::kByte);
  uint8_t* dst[4] = {full.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
  int dst_ls[4] = {w * c, 0, 0, 0};
  sws_scale(d->to_rgb, f->data, f->linesize, 0, h, dst, dst_ls);
  int side_h = h, side_w = w;
  if (o.crop > 0) {
    if (o.crop > std::min(w, h)) {
      return Status::InvalidArgument(where + ": --crop " + std::to_string(o.crop) +
                                     " is larger than the " + std::to_string(w) + "x" +
                                     std::to_string(h) + " frame");
    }
    side_h = side_w = o.crop;
  } else if (o.size > 0) {
    side_h = side_w = std::min(w, h);
  }
  at::Tensor cropped = full;
  if (side_h != h || side_w != w) {
    const int y0 = (h - side_h) / 2, x0 = (w - side_w) / 2;
    cropped = full.narrow(0, y0, side_h).narrow(1, x0, side_w);
  }
  if (o.size <= 0 || (o.size == side_h && o.size == side_w)) return cropped.contiguous();
  return ResizeArea(cropped.contiguous(), o.size, o.size);
}

Status CheckOptions(const std::string& path, const FrameOptions& o) {
  if (o.channels != 1 && o.channels != 3) {
    return Status::InvalidArgument(path + ": channels must be 1 or 3, got " +
                                   std::to_string(o.channels));
  }
  if (o.size < 0 || o.crop < 0 || o.max_frames < 0) {
    return Status::InvalidArgument(path + ": size, crop and max_frames must be >= 0");
  }
  return Status::Ok();
}

}  // namespace

Result<at::Tensor> ResizeArea(const at::Tensor& hwc_in, int out_h, int out_w) {
  at::Tensor hwc = hwc_in.contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  const int c = static_cast<int>(hwc.size(2));
  const AVPixelFormat fmt = c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  SwsContext* s = sws_getContext(w, h, fmt, out_w, out_h, fmt, SWS_AREA | SWS_ACCURATE_RND, nullptr,
                                 nullptr, nullptr);
  if (s == nullptr) return Status::Internal("swscale: cannot create an area resize context");
  at::Tensor out = at::empty({out_h, out_w, c}, at::kByte);
  const uint8_t* src[4] = {hwc.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
  int src_ls[4] = {w * c, 0, 0, 0};
  uint8_t* dst[4] = {out.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
  int dst_ls[4] = {out_w * c, 0, 0, 0};
  sws_scale(s, src, src_ls, 0, h, dst, dst_ls);
  sws_freeContext(s);
  return out;
}

Result<at::Tensor> DecodeVideo(const std::string& path, const FrameOptions& o) {
  InitFfmpegLogging();
  FC_RETURN_IF_ERROR(CheckOptions(path, o));
  t_last_av_log.clear();
  if (!Exists(path)) return Status::NotFound(path + ": no such file");
  Decoder d;
  int ret = avformat_open_input(&d.fmt, path.c_str(), nullptr, nullptr);
  if (ret < 0) return Status::Corruption(path + ": cannot open: " + AvError(ret));
  ret = avformat_find_stream_info(d.fmt, nullptr);
  if (ret < 0) return Status::Corruption(path + ": cannot read stream info: " + AvError(ret));
  const AVCodec* codec = nullptr;
  const int stream = av_find_best_stream(d.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream < 0 || codec == nullptr) {
    return Status::Corruption(path + ": no decodable video stream: " + AvError(stream));
  }
  AVStream* st = d.fmt->streams[stream];
  d.dec = avcodec_alloc_context3(codec);
  if (d.dec == nullptr) return Status::Internal(path + ": out of memory for a decoder");
  ret = avcodec_parameters_to_context(d.dec, st->codecpar);
  if (ret < 0) return Status::Corruption(path + ": bad codec parameters: " + AvError(ret));
  d.dec->thread_count = 1;
  d.dec->err_recognition |= AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_EXPLODE;
  ret = avcodec_open2(d.dec, codec, nullptr);
  if (ret < 0) {
    return Status::Unavailable(path + ": cannot open the " + codec->name +
                               " decoder: " + AvError(ret));
  }
  d.frame = av_frame_alloc();
  d.pkt = av_packet_alloc();
  std::vector<at::Tensor> frames;
  int64_t last_pos = 0;
  auto where = [&](int64_t frame_no) {
    return path + ": frame " + std::to_string(frame_no) + " (byte offset " +
           std::to_string(last_pos) + ")";
  };
  auto drain = [&]() -> Status {
    while (o.max_frames == 0 || static_cast<int64_t>(frames.size()) < o.max_frames) {
      int r = avcodec_receive_frame(d.dec, d.frame);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Status::Ok();
      if (r < 0) {
        return Status::Corruption(where(frames.size()) + ": decode error: " + AvError(r));
      }
      if ((d.frame->flags & AV_FRAME_FLAG_CORRUPT) || d.frame->decode_error_flags != 0) {
        av_frame_unref(d.frame);
        return Status::Corruption(where(frames.size()) + ": frame decoded as corrupt" +
                                  (t_last_av_log.empty() ? "" : " (" + t_last_av_log + ")"));
      }
      auto img = ConvertFrame(&d, d.frame, o, where(frames.size()));
      av_frame_unref(d.frame);
      if (!img.ok()) return img.status();
      if (!frames.empty() && !frames[0].sizes().equals(img.value().sizes())) {
        return Status::Corruption(where(frames.size()) + ": frame size changed mid-stream");
      }
      frames.push_back(std::move(img.value()));
    }
    return Status::Ok();
  };
  bool limit = false;
  while (true) {
    if (o.max_frames > 0 && static_cast<int64_t>(frames.size()) >= o.max_frames) {
      limit = true;
      break;
    }
    ret = av_read_frame(d.fmt, d.pkt);
    if (ret == AVERROR_EOF) break;
    if (ret < 0) {
      int64_t pos = d.fmt->pb ? avio_tell(d.fmt->pb) : -1;
      return Status::Corruption(path + ": read error after frame " + std::to_string(frames.size()) +
                                " at byte offset " + std::to_string(pos) + ": " + AvError(ret));
    }
    if (d.pkt->stream_index != stream) {
      av_packet_unref(d.pkt);
      continue;
    }
    if (d.pkt->pos >= 0) last_pos = d.pkt->pos;
    if (d.pkt->flags & AV_PKT_FLAG_CORRUPT) {
      av_packet_unref(d.pkt);
      return Status::Corruption(where(frames.size()) + ": packet marked corrupt (truncated?)");
    }
    ret = avcodec_send_packet(d.dec, d.pkt);
    av_packet_unref(d.pkt);
    if (ret < 0 && ret != AVERROR(EAGAIN)) {
      return Status::Corruption(where(frames.size()) + ": decode error: " + AvError(ret));
    }
    FC_RETURN_IF_ERROR(drain());
  }
  if (!limit) {
    ret = avcodec_send_packet(d.dec, nullptr);  // flush delayed frames
    if (ret < 0 && ret != AVERROR_EOF) {
      return Status::Corruption(where(frames.size()) + ": decode error at end: " + AvError(ret));
    }
    FC_RETURN_IF_ERROR(drain());
  }
  if (frames.empty()) return Status::Corruption(path + ": no frames decoded");
  const int64_t declared = st->nb_frames;
  const int64_t n = static_cast<int64_t>(frames.size());
  if (!limit && declared > 0 && n < declared) {
    return Status::Corruption(path + ": decoded " + std::to_string(n) + " of the " +
                              std::to_string(declared) + " frames the container declares " +
                              "(truncated at byte offset " + std::to_string(last_pos) + "?)");
  }
  return at::stack(frames);
}

Result<at::Tensor> DecodeImage(const std::string& path, const FrameOptions& o) {
  FrameOptions one = o;
  one.max_frames = 1;
  FC_ASSIGN_OR_RETURN(at::Tensor t, DecodeVideo(path, one));
  return t[0];
}

bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      // Compare by value: strip leading zeros, then by length, then digit by digit.
      size_t si = i, sj = j;
      while (si + 1 < i2 && a[si] == '0') ++si;
      while (sj + 1 < j2 && b[sj] == '0') ++sj;
      if (i2 - si != j2 - sj) return i2 - si < j2 - sj;
      int c = a.compare(si, i2 - si, b, sj, j2 - sj);
      if (c != 0) return c < 0;
      if (i2 - i != j2 - j) return i2 - i < j2 - j;  // "01" after "1"
      i = i2;
      j = j2;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

bool IsImageFile(const std::string& name) {
  static const char* kExt[] = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm"};
  std::string e = Extension(name);
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

bool IsVideoFile(const std::string& name) {
  static const char* kExt[] = {"mp4", "m4v",  "mov", "avi", "mkv", "webm",
                               "mpg", "mpeg", "ogv", "flv", "wmv"};
  std::string e = Extension(name);
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

std::vector<std::string> ListFrameFiles(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& n : ListDir(dir)) {
    if (IsImageFile(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end(), NaturalLess);
  for (auto& n : names) n = dir + "/" + n;
  return names;
}

Result<at::Tensor> DecodeFrameFolder(const std::string& dir, const FrameOptions& o) {
  std::vector<std::string> files = ListFrameFiles(dir);
  if (files.empty()) return Status::NotFound(dir + ": no image files (png, jpg, bmp, ppm)");
  if (o.max_frames > 0 && static_cast<int64_t>(files.size()) > o.max_frames) {
    files.resize(o.max_frames);
  }
  std::vector<at::Tensor> frames;
  frames.reserve(files.size());
  for (const auto& f : files) {
    FC_ASSIGN_OR_RETURN(at::Tensor img, DecodeImage(f, o));
    if (!frames.empty() && !frames[0].sizes().equals(img.sizes())) {
      return Status::InvalidArgument(f + ": frame is " + std::to_string(img.size(1)) + "x" +
                                     std::to_string(img.size(0)) + ", earlier frames of " + dir +
                                     " are " + std::to_string(frames[0].size(1)) + "x" +
                                     std::to_string(frames[0].size(0)) + " (use --size to resize)");
    }
    frames.push_back(std::move(img));
  }
  return at::stack(frames);
}

}  // namespace fc::data
