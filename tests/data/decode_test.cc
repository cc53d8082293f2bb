#include "data/decode.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/test_util.h"
#include "media/png.h"
#include "util/files.h"

namespace fc::data {
namespace {

using testing::Shell;
using testing::TempDir;

// 12 frames of ffmpeg's testsrc at 80x60.
std::string MakeVideo(const TempDir& dir, const std::string& name, const std::string& codec_args) {
  std::string out;
  const std::string path = dir / name;
  int rc = Shell("ffmpeg -v error -y -f lavfi -i testsrc=size=80x60:rate=10 -frames:v 12 " +
                     codec_args + " '" + path + "'",
                 &out);
  EXPECT_EQ(rc, 0) << out;
  return path;
}

std::string H264OrMpeg4() {
  return Shell("ffmpeg -hide_banner -encoders | grep -q libx264") == 0
             ? "-c:v libx264 -pix_fmt yuv420p -crf 12"
             : "-c:v mpeg4 -q:v 2";
}

TEST(Decode, NaturalOrder) {
  EXPECT_TRUE(NaturalLess("f2.png", "f10.png"));
  EXPECT_FALSE(NaturalLess("f10.png", "f2.png"));
  EXPECT_TRUE(NaturalLess("a9/x", "a10/x"));
  EXPECT_TRUE(NaturalLess("1", "01"));
  EXPECT_TRUE(NaturalLess("abc", "abd"));
  EXPECT_TRUE(NaturalLess("ab", "abc"));
}

TEST(Decode, Mp4AviAndPngFolderAgree) {
  if (!testing::HaveFfmpeg()) GTEST_SKIP() << "no ffmpeg command-line tool";
  TempDir dir;
  const std::string mp4 = MakeVideo(dir, "a.mp4", H264OrMpeg4());
  const std::string avi = MakeVideo(dir, "a.avi", "-c:v mjpeg -q:v 2");
  ASSERT_TRUE(fc::MakeDirs(dir / "frames").ok());
  MakeVideo(dir, "frames/%d.png", "");
  FrameOptions o;
  auto a = DecodeVideo(mp4, o);
  auto b = DecodeVideo(avi, o);
  auto c = DecodeFrameFolder(dir / "frames", o);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(a.value().sizes(), at::IntArrayRef({12, 60, 80, 3}));
  EXPECT_EQ(b.value().sizes(), at::IntArrayRef({12, 60, 80, 3}));
  EXPECT_EQ(c.value().sizes(), at::IntArrayRef({12, 60, 80, 3}));
  // PNG is lossless: frame order is natural (1..12 with 10, 11, 12 last), so frame 9 of the
  // folder is the tenth frame of the video; lossy codecs stay close.
  auto diff = [](const at::Tensor& x, const at::Tensor& y) {
    return (x.to(at::kFloat) - y.to(at::kFloat)).abs().mean().item<double>();
  };
  for (int t : {0, 9, 11}) {
    EXPECT_LT(diff(a.value()[t], c.value()[t]), 8.0) << "mp4 frame " << t;
    EXPECT_LT(diff(b.value()[t], c.value()[t]), 8.0) << "avi frame " << t;
  }
  EXPECT_GT(diff(c.value()[0], c.value()[9]), 1.0);  // frames differ (the counter moves)
  // Crop + area resize, grayscale, max frames.
  o.size = 32;
  o.channels = 1;
  o.max_frames = 5;
  auto d = DecodeVideo(avi, o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d.value().sizes(), at::IntArrayRef({5, 32, 32, 1}));
  auto e = DecodeFrameFolder(dir / "frames", o);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value().sizes(), at::IntArrayRef({5, 32, 32, 1}));
  EXPECT_LT(diff(d.value(), e.value()), 6.0);
}

TEST(Decode, CentreCropThenAreaResize) {
  TempDir dir;
  // 6x4 image: left column block red, the rest blue; centre 4x4 crop drops the outer columns.
  at::Tensor img = at::zeros({4, 6, 3}, at::kByte);
  img.select(2, 2).fill_(200);
  img.narrow(1, 0, 1).select(2, 0).fill_(255);
  img.narrow(1, 0, 1).select(2, 2).fill_(0);
  ASSERT_TRUE(media::WritePng(dir / "x.png", img).ok());
  FrameOptions o;
  o.size = 2;
  auto r = DecodeImage(dir / "x.png", o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().sizes(), at::IntArrayRef({2, 2, 3}));
  EXPECT_EQ(r.value().select(2, 0).max().item<int>(), 0);  // no red left after the crop
  EXPECT_EQ(r.value().select(2, 2).min().item<int>(), 200);
  // Exact pixels at native size.
  auto n = DecodeImage(dir / "x.png", FrameOptions{});
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(at::equal(n.value(), img));
  o.crop = 5;
  r = DecodeImage(dir / "x.png", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--crop 5 is larger"), std::string::npos);
}

TEST(Decode, TruncatedFilesAreErrorsNamingTheFile) {
  if (!testing::HaveFfmpeg()) GTEST_SKIP() << "no ffmpeg command-line tool";
  TempDir dir;
  const std::string mp4 = MakeVideo(dir, "t.mp4", H264OrMpeg4());
  const std::string avi = MakeVideo(dir, "t.avi", "-c:v mjpeg -q:v 2");
  ASSERT_TRUE(fc::MakeDirs(dir / "f").ok());
  MakeVideo(dir, "f/%02d.png", "");
  for (const std::string& path : {mp4, avi, dir / "f/05.png"}) {
    testing::Truncate(path, testing::SizeOf(path) * 6 / 10);
    auto r = path.find(".png") != std::string::npos ? DecodeFrameFolder(dir / "f", FrameOptions{})
                                                    : DecodeVideo(path, FrameOptions{});
    ASSERT_FALSE(r.ok()) << path << " decoded " << r.value().sizes();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  }
  auto r = DecodeVideo(dir / "missing.mp4", FrameOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "junk.avi", std::string(1000, 'x')).ok());
  r = DecodeVideo(dir / "junk.avi", FrameOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir / "junk.avi"), std::string::npos);
}

}  // namespace
}  // namespace fc::data
