#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/test_util.h"
#include "media/gif.h"
#include "media/video_writer.h"
#include "util/files.h"

namespace fc::media {
namespace {

using data::testing::Shell;
using data::testing::TempDir;

TEST(Gif, GrayscaleIsExactThroughFfmpeg) {
  if (!data::testing::HaveFfmpeg()) GTEST_SKIP() << "no ffmpeg command-line tool";
  TempDir dir;
  at::Tensor frames = at::randint(0, 256, {5, 24, 40, 1}, at::kLong).to(at::kByte);
  frames.narrow(1, 0, 12).fill_(17);  // long runs too
  frames[3].copy_(frames[2]);         // an unchanged frame is still a frame
  ASSERT_TRUE(WriteGif(dir / "g.gif", frames, 10).ok());
  EXPECT_EQ(data::testing::ProbeFrameCount(dir / "g.gif"), 5);
  auto bytes = fc::ReadSmallFile(dir / "g.gif", 1 << 20);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes.value().rfind("GIF89a", 0), 0u);
  EXPECT_NE(bytes.value().find("NETSCAPE2.0"), std::string::npos);  // loops forever
  std::string dur;
  ASSERT_EQ(
      Shell("ffprobe -v error -select_streams v -show_entries packet=duration_time -of csv=p=0 '" +
                dir / "g.gif" + "'",
            &dur),
      0);
  EXPECT_NE(dur.find("0.100000"), std::string::npos) << dur;  // 10 fps: 10 centiseconds
  std::string out;
  ASSERT_EQ(Shell("ffmpeg -v error -i '" + dir / "g.gif" +
                      "' -vsync passthrough -f rawvideo -pix_fmt gray '" + dir / "g.raw" + "'",
                  &out),
            0)
      << out;
  auto raw = fc::ReadSmallFile(dir / "g.raw", 1 << 20);
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw.value().size(), static_cast<size_t>(frames.numel()));
  at::Tensor back = at::from_blob(raw.value().data(), {5, 24, 40, 1}, at::kByte);
  EXPECT_TRUE(at::equal(back, frames));
}

TEST(Gif, RgbFewColoursExactManyColoursQuantised) {
  if (!data::testing::HaveFfmpeg()) GTEST_SKIP() << "no ffmpeg command-line tool";
  TempDir dir;
  at::Tensor few = at::zeros({3, 16, 16, 3}, at::kByte);
  few.select(3, 0).fill_(250);
  few.narrow(1, 4, 4).select(3, 1).fill_(90);
  ASSERT_TRUE(WriteGif(dir / "few.gif", few, 8).ok());
  ASSERT_EQ(Shell("ffmpeg -v error -i '" + dir / "few.gif" +
                  "' -vsync passthrough -f rawvideo -pix_fmt rgb24 '" + dir / "few.raw" + "'"),
            0);
  auto raw = fc::ReadSmallFile(dir / "few.raw", 1 << 20).value();
  ASSERT_EQ(raw.size(), static_cast<size_t>(few.numel()));
  EXPECT_TRUE(at::equal(at::from_blob(raw.data(), few.sizes(), at::kByte), few));
  at::Tensor many = at::randint(0, 256, {4, 20, 20, 3}, at::kLong).to(at::kByte);
  ASSERT_TRUE(WriteGif(dir / "many.gif", many, 8).ok());
  EXPECT_EQ(data::testing::ProbeFrameCount(dir / "many.gif"), 4);
}

TEST(Gif, TileClipsGrid) {
  std::vector<at::Tensor> clips = {at::full({3, 1, 4, 5}, 100, at::kByte),
                                   at::full({2, 3, 4, 5}, 1.0, at::kFloat),
                                   at::full({3, 1, 4, 5}, 7, at::kByte)};
  at::Tensor g = TileClips(clips, 2);
  EXPECT_EQ(g.sizes(), at::IntArrayRef({3, 4 + 2 + 4, 5 + 2 + 5, 3}));
  EXPECT_EQ(g[0][0][0][0].item<int>(), 100);
  EXPECT_EQ(g[2][0][7][1].item<int>(), 255);  // the 2-frame clip holds its last frame
  EXPECT_EQ(g[0][6][0][2].item<int>(), 7);
  EXPECT_EQ(g[0][4][0][0].item<int>(), 0);  // separator
}

TEST(Mp4, WrittenAndProbed) {
  if (!data::testing::HaveFfmpeg()) GTEST_SKIP() << "no ffmpeg command-line tool";
  TempDir dir;
  at::Tensor frames = at::randint(0, 256, {7, 33, 21, 3}, at::kLong).to(at::kByte);
  ASSERT_TRUE(WriteMp4(dir / "v.mp4", frames, 12).ok());
  EXPECT_EQ(data::testing::ProbeFrameCount(dir / "v.mp4"), 7);
  std::string out;
  ASSERT_EQ(Shell("ffprobe -v error -select_streams v:0 -show_entries "
                  "stream=codec_name,width,height,pix_fmt -of csv=p=0 '" +
                      dir / "v.mp4" + "'",
                  &out),
            0);
  const std::string codec = Mp4EncoderName() == "libx264" ? "h264" : "mpeg4";
  EXPECT_EQ(out, codec + ",22,34,yuv420p\n");  // odd sizes padded to even
  for (const auto& n : fc::ListDir(dir.path())) EXPECT_EQ(n.find("tmp"), std::string::npos);
  at::Tensor gray = at::randint(0, 256, {3, 16, 16, 1}, at::kLong).to(at::kByte);
  ASSERT_TRUE(WriteMp4(dir / "g.mp4", gray, 5).ok());
  EXPECT_EQ(data::testing::ProbeFrameCount(dir / "g.mp4"), 3);
  EXPECT_FALSE(WriteMp4(dir / "no/such/dir/x.mp4", gray, 5).ok());
}

}  // namespace
}  // namespace fc::media
