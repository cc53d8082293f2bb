#include "media/video_writer.h"

#include <ATen/ATen.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <mutex>

#include "media/av_error.h"
#include "util/files.h"

namespace fc::media {
namespace {

const AVCodec* PickEncoder() {
  const AVCodec* c = avcodec_find_encoder_by_name("libx264");
  if (c == nullptr) c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  return c;
}

struct Writer {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* enc = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  SwsContext* sws = nullptr;
  bool opened_io = false;
  ~Writer() {
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    if (fmt != nullptr && opened_io) avio_closep(&fmt->pb);
    avformat_free_context(fmt);
  }
};

Status Drain(Writer* w, AVStream* st, const std::string& path) {
  while (true) {
    int r = avcodec_receive_packet(w->enc, w->pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Status::Ok();
    if (r < 0) return Status::Internal(path + ": encode error: " + AvError(r));
    if (w->pkt->duration == 0) w->pkt->duration = 1;  // one frame; else mp4 drops the last
    av_packet_rescale_ts(w->pkt, w->enc->time_base, st->time_base);
    w->pkt->stream_index = st->index;
    r = av_interleaved_write_frame(w->fmt, w->pkt);
    if (r < 0) return Status::IoError(path + ": write error: " + AvError(r));
  }
}

Status Encode(const std::string& path, const std::string& tmp, const at::Tensor& frames, int fps) {
  // Encoders log statistics at info level; framecast reports errors itself.
  static std::once_flag quiet;
  std::call_once(quiet, [] {
    if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  });
  const int64_t t = frames.size(0);
  const int h = static_cast<int>(frames.size(1)), w = static_cast<int>(frames.size(2));
  const int c = static_cast<int>(frames.size(3));
  const int eh = h + (h & 1), ew = w + (w & 1);
  Writer wr;
  const AVCodec* codec = PickEncoder();
  if (codec == nullptr) return Status::Unavailable(path + ": no H.264 or MPEG-4 encoder in FFmpeg");
  int r = avformat_alloc_output_context2(&wr.fmt, nullptr, "mp4", tmp.c_str());
  if (r < 0 || wr.fmt == nullptr) return Status::Internal(path + ": mp4 muxer: " + AvError(r));
  AVStream* st = avformat_new_stream(wr.fmt, nullptr);
  wr.enc = avcodec_alloc_context3(codec);
  if (st == nullptr || wr.enc == nullptr) return Status::Internal(path + ": out of memory");
  wr.enc->width = ew;
  wr.enc->height = eh;
  wr.enc->pix_fmt = AV_PIX_FMT_YUV420P;
  wr.enc->time_base = AVRational{1, fps};
  wr.enc->framerate = AVRational{fps, 1};
  wr.enc->gop_size = 12;
  wr.enc->thread_count = 1;
  if (wr.fmt->oformat->flags & AVFMT_GLOBALHEADER) wr.enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  if (std::string(codec->name) == "libx264") {
    av_dict_set(&opts, "crf", "18", 0);
    av_dict_set(&opts, "preset", "medium", 0);
  } else {
    wr.enc->flags |= AV_CODEC_FLAG_QSCALE;
    wr.enc->global_quality = FF_QP2LAMBDA * 2;
  }
  r = avcodec_open2(wr.enc, codec, &opts);
  av_dict_free(&opts);
  if (r < 0)
    return Status::Internal(path + ": cannot open encoder " + codec->name + ": " + AvError(r));
  r = avcodec_parameters_from_context(st->codecpar, wr.enc);
  if (r < 0) return Status::Internal(path + ": codec parameters: " + AvError(r));
  st->time_base = wr.enc->time_base;
  r = avio_open(&wr.fmt->pb, tmp.c_str(), AVIO_FLAG_WRITE);
  if (r < 0) return Status::IoError(tmp + ": cannot create: " + AvError(r));
  wr.opened_io = true;
  // +faststart: the index (moov) goes before the frames, so browsers stream the file as it loads.
  AVDictionary* mux = nullptr;
  av_dict_set(&mux, "movflags", "+faststart", 0);
  r = avformat_write_header(wr.fmt, &mux);
  av_dict_free(&mux);
  if (r < 0) return Status::IoError(path + ": cannot write header: " + AvError(r));
  wr.frame = av_frame_alloc();
  wr.pkt = av_packet_alloc();
  wr.frame->format = AV_PIX_FMT_YUV420P;
  wr.frame->width = ew;
  wr.frame->height = eh;
  r = av_frame_get_buffer(wr.frame, 0);
  if (r < 0) return Status::Internal(path + ": frame buffer: " + AvError(r));
  const AVPixelFormat src_fmt = c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  wr.sws = sws_getContext(ew, eh, src_fmt, ew, eh, AV_PIX_FMT_YUV420P,
                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr,
                          nullptr);
  if (wr.sws == nullptr) return Status::Internal(path + ": swscale context");
  at::Tensor padded = at::zeros({eh, ew, c}, at::kByte);
  for (int64_t f = 0; f < t; ++f) {
    padded.narrow(0, 0, h).narrow(1, 0, w).copy_(frames[f]);
    r = av_frame_make_writable(wr.frame);
    if (r < 0) return Status::Internal(path + ": frame not writable: " + AvError(r));
    const uint8_t* src[4] = {padded.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
    int src_ls[4] = {ew * c, 0, 0, 0};
    sws_scale(wr.sws, src, src_ls, 0, eh, wr.frame->data, wr.frame->linesize);
    wr.frame->pts = f;
    r = avcodec_send_frame(wr.enc, wr.frame);
    if (r < 0) return Status::Internal(path + ": encode error: " + AvError(r));
    FC_RETURN_IF_ERROR(Drain(&wr, st, path));
  }
  r = avcodec_send_frame(wr.enc, nullptr);
  if (r < 0 && r != AVERROR_EOF) return Status::Internal(path + ": flush: " + AvError(r));
  FC_RETURN_IF_ERROR(Drain(&wr, st, path));
  r = av_write_trailer(wr.fmt);
  if (r < 0) return Status::IoError(path + ": cannot write trailer: " + AvError(r));
  r = avio_closep(&wr.fmt->pb);
  wr.opened_io = false;
  if (r < 0) return Status::IoError(tmp + ": close: " + AvError(r));
  return Status::Ok();
}

}  // namespace

std::string Mp4EncoderName() {
  const AVCodec* c = PickEncoder();
  return c != nullptr ? c->name : "";
}

Status WriteMp4(const std::string& path, const at::Tensor& frames_in, int fps) {
  if (frames_in.dim() != 4 || frames_in.scalar_type() != at::kByte || frames_in.size(0) < 1 ||
      (frames_in.size(3) != 1 && frames_in.size(3) != 3)) {
    return Status::InvalidArgument(path + ": frames must be uint8 [T, H, W, C] with C = 1 or 3");
  }
  if (fps < 1) return Status::InvalidArgument(path + ": fps must be >= 1");
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + ".mp4";
  Status s = Encode(path, tmp, frames_in.contiguous(), fps);
  if (!s.ok()) {
    if (Exists(tmp)) (void)RemoveFile(tmp);
    return s;
  }
  {
    // fsync the file before the rename so a crash never leaves a renamed but empty file.
    auto fd = OpenForRead(tmp);
    if (fd.ok()) {
      ::fsync(fd.value());
      ::close(fd.value());
    }
  }
  FC_RETURN_IF_ERROR(RenamePath(tmp, path));
  return SyncDir(DirName(path));
}

}  // namespace fc::media
