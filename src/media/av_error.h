// FFmpeg's error code as text, for the media writers' Status messages.
#pragma once

extern "C" {
#include <libavutil/error.h>
}

#include <string>

namespace fc::media {

inline std::string AvError(int e) {
  char b[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(e, b, sizeof(b));
  return b;
}

}  // namespace fc::media
