#include "media/gif.h"

#include <ATen/ATen.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "media/av_error.h"
#include "util/files.h"

namespace fc::media {
namespace {

int Level(int v, int levels) {  // nearest of `levels` equally spaced levels in [0, 255]
  return (v * (levels - 1) + 127) / 255;
}

// The GIF's bytes collect in memory (EncodeGif returns them; WriteGif writes them atomically).
#if LIBAVFORMAT_VERSION_MAJOR >= 61
int AppendBytes(void* opaque, const uint8_t* buf, int n) {
#else
int AppendBytes(void* opaque, uint8_t* buf, int n) {
#endif
  static_cast<std::string*>(opaque)->append(reinterpret_cast<const char*>(buf), n);
  return n;
}

struct GifMuxer {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* enc = nullptr;
  AVIOContext* io = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  ~GifMuxer() {
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    if (io != nullptr) av_freep(&io->buffer);
    avio_context_free(&io);
    avformat_free_context(fmt);
  }
};

Status Drain(GifMuxer* m, AVStream* st) {
  while (true) {
    int r = avcodec_receive_packet(m->enc, m->pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Status::Ok();
    if (r < 0) return Status::Internal("gif: encode error: " + AvError(r));
    av_packet_rescale_ts(m->pkt, m->enc->time_base, st->time_base);
    m->pkt->stream_index = st->index;
    r = av_interleaved_write_frame(m->fmt, m->pkt);
    if (r < 0) return Status::Internal("gif: mux error: " + AvError(r));
  }
}

}  // namespace

Result<std::string> EncodeGif(const at::Tensor& frames_in, int fps) {
  if (frames_in.dim() != 4 || frames_in.scalar_type() != at::kByte ||
      (frames_in.size(3) != 1 && frames_in.size(3) != 3) || frames_in.size(0) < 1) {
    return Status::InvalidArgument("gif: frames must be uint8 [T, H, W, C] with C = 1 or 3");
  }
  if (fps < 1) return Status::InvalidArgument("gif: fps must be >= 1");
  at::Tensor frames = frames_in.contiguous();
  const int64_t t = frames.size(0), h = frames.size(1), w = frames.size(2), c = frames.size(3);
  if (h > 65535 || w > 65535 || h < 1 || w < 1) {
    return Status::InvalidArgument("gif: frame size must be in [1, 65535]");
  }
  const uint8_t* px = frames.data_ptr<uint8_t>();
  const int64_t npx = t * h * w;
  std::vector<uint8_t> palette(256 * 3, 0);
  std::vector<uint8_t> idx(npx);
  if (c == 1) {
    for (int i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = i;
    std::copy(px, px + npx, idx.begin());
  } else {
    std::map<uint32_t, int> colours;
    for (int64_t i = 0; i < npx && colours.size() <= 256; ++i) {
      colours.emplace((uint32_t(px[3 * i]) << 16) | (uint32_t(px[3 * i + 1]) << 8) | px[3 * i + 2],
                      0);
    }
    if (colours.size() <= 256) {
      int k = 0;
      for (auto& [rgb, slot] : colours) {
        slot = k;
        palette[3 * k] = rgb >> 16;
        palette[3 * k + 1] = (rgb >> 8) & 0xff;
        palette[3 * k + 2] = rgb & 0xff;
        ++k;
      }
      for (int64_t i = 0; i < npx; ++i) {
        idx[i] = static_cast<uint8_t>(colours.at((uint32_t(px[3 * i]) << 16) |
                                                 (uint32_t(px[3 * i + 1]) << 8) | px[3 * i + 2]));
      }
    } else {
      for (int r = 0; r < 6; ++r) {
        for (int g = 0; g < 7; ++g) {
          for (int b = 0; b < 6; ++b) {
            const int k = (r * 7 + g) * 6 + b;
            palette[3 * k] = static_cast<uint8_t>((r * 255 + 2) / 5);
            palette[3 * k + 1] = static_cast<uint8_t>((g * 255 + 3) / 6);
            palette[3 * k + 2] = static_cast<uint8_t>((b * 255 + 2) / 5);
          }
        }
      }
      for (int64_t i = 0; i < npx; ++i) {
        idx[i] = static_cast<uint8_t>((Level(px[3 * i], 6) * 7 + Level(px[3 * i + 1], 7)) * 6 +
                                      Level(px[3 * i + 2], 6));
      }
    }
  }
  // FFmpeg's GIF encoder (LZW, one frame per packet) and muxer (header, NETSCAPE2.0 loop, delays)
  // on 8-bit palette frames; the palette travels with every frame.
  const int delay = std::max(1, static_cast<int>(std::lround(100.0 / fps)));
  GifMuxer m;
  std::string out;
  int r = avformat_alloc_output_context2(&m.fmt, nullptr, "gif", nullptr);
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_GIF);
  if (r < 0 || m.fmt == nullptr || codec == nullptr)
    return Status::Internal("gif: this FFmpeg has no GIF muxer or encoder");
  m.enc = avcodec_alloc_context3(codec);
  m.frame = av_frame_alloc();
  m.pkt = av_packet_alloc();
  if (m.enc == nullptr || m.frame == nullptr || m.pkt == nullptr)
    return Status::Internal("gif: out of memory");
  m.enc->width = static_cast<int>(w);
  m.enc->height = static_cast<int>(h);
  m.enc->pix_fmt = AV_PIX_FMT_PAL8;
  m.enc->time_base = AVRational{1, 100};  // GIF delays are centiseconds
  if ((r = avcodec_open2(m.enc, codec, nullptr)) < 0)
    return Status::Internal("gif: cannot open the encoder: " + AvError(r));
  AVStream* st = avformat_new_stream(m.fmt, nullptr);
  if (st == nullptr) return Status::Internal("gif: out of memory");
  avcodec_parameters_from_context(st->codecpar, m.enc);
  st->time_base = m.enc->time_base;
  constexpr int kIoBuffer = 1 << 16;
  auto* buf = static_cast<unsigned char*>(av_malloc(kIoBuffer));
  m.io = avio_alloc_context(buf, kIoBuffer, /*write_flag=*/1, &out, nullptr, AppendBytes, nullptr);
  if (m.io == nullptr) {
    av_free(buf);
    return Status::Internal("gif: out of memory");
  }
  m.fmt->pb = m.io;
  m.fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "loop", "0", 0);  // loop forever
  r = avformat_write_header(m.fmt, &opts);
  av_dict_free(&opts);
  if (r < 0) return Status::Internal("gif: cannot write the header: " + AvError(r));
  m.frame->format = AV_PIX_FMT_PAL8;
  m.frame->width = static_cast<int>(w);
  m.frame->height = static_cast<int>(h);
  if ((r = av_frame_get_buffer(m.frame, 0)) < 0)
    return Status::Internal("gif: cannot allocate a frame: " + AvError(r));
  const size_t frame_px = static_cast<size_t>(h * w);
  for (int64_t f = 0; f < t; ++f) {
    if ((r = av_frame_make_writable(m.frame)) < 0)
      return Status::Internal("gif: frame not writable: " + AvError(r));
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(m.frame->data[0] + y * m.frame->linesize[0], idx.data() + f * frame_px + y * w,
                  static_cast<size_t>(w));
    auto* pal = reinterpret_cast<uint32_t*>(m.frame->data[1]);
    for (int i = 0; i < 256; ++i)
      pal[i] = 0xFF000000u | (uint32_t(palette[3 * i]) << 16) |
               (uint32_t(palette[3 * i + 1]) << 8) | palette[3 * i + 2];
    m.frame->pts = f * delay;
#if LIBAVUTIL_VERSION_MAJOR >= 58
    m.frame->duration = delay;
#endif
    if ((r = avcodec_send_frame(m.enc, m.frame)) < 0)
      return Status::Internal("gif: encode error: " + AvError(r));
    FC_RETURN_IF_ERROR(Drain(&m, st));
  }
  if ((r = avcodec_send_frame(m.enc, nullptr)) < 0)
    return Status::Internal("gif: encode error: " + AvError(r));
  FC_RETURN_IF_ERROR(Drain(&m, st));
  if ((r = av_write_trailer(m.fmt)) < 0)
    return Status::Internal("gif: cannot write the trailer: " + AvError(r));
  avio_flush(m.io);
  if (m.io->error < 0) return Status::Internal("gif: write error: " + AvError(m.io->error));
  return out;
}

Status WriteGif(const std::string& path, const at::Tensor& frames, int fps) {
  auto bytes = EncodeGif(frames, fps);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return WriteFileAtomic(path, bytes.value());
}

at::Tensor TileClips(const std::vector<at::Tensor>& clips, int columns) {
  TORCH_CHECK(!clips.empty(), "TileClips: no clips");
  TORCH_CHECK(columns >= 1, "TileClips: columns must be >= 1");
  int64_t t = 0, h = 0, w = 0, c = 1;
  std::vector<at::Tensor> u8;
  for (const auto& clip : clips) {
    TORCH_CHECK(clip.dim() == 4 && (clip.size(1) == 1 || clip.size(1) == 3),
                "TileClips: clips must be [T, C, H, W] with C = 1 or 3");
    at::Tensor x = clip.scalar_type() == at::kByte
                       ? clip
                       : clip.to(at::kFloat).clamp(0, 1).mul(255).round().to(at::kByte);
    u8.push_back(x.permute({0, 2, 3, 1}));  // [T, H, W, C]
    t = std::max(t, clip.size(0));
    h = std::max(h, clip.size(2));
    w = std::max(w, clip.size(3));
    c = std::max(c, clip.size(1));
  }
  const int64_t pad = 2, n = static_cast<int64_t>(clips.size());
  const int64_t cols = std::min<int64_t>(columns, n), rows = (n + cols - 1) / cols;
  at::Tensor grid =
      at::zeros({t, rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c}, at::kByte);
  for (int64_t i = 0; i < n; ++i) {
    at::Tensor x = u8[i];
    if (x.size(3) != c) x = x.expand({x.size(0), x.size(1), x.size(2), c});
    if (x.size(0) < t) {
      x = at::cat(
          {x, x.narrow(0, x.size(0) - 1, 1).expand({t - x.size(0), x.size(1), x.size(2), c})});
    }
    const int64_t r = i / cols, col = i % cols;
    grid.narrow(1, r * (h + pad), x.size(1)).narrow(2, col * (w + pad), x.size(2)).copy_(x);
  }
  return grid;
}

}  // namespace fc::media
