#include "data/idx.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/test_util.h"
#include "util/files.h"

namespace fc::data {
namespace {

using testing::TempDir;

at::Tensor Pattern(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return at::arange(n, at::kLong).mul(37).remainder(256).to(at::kByte).reshape(shape);
}

TEST(Idx, PlainAndGzipRoundTrip) {
  TempDir dir;
  at::Tensor images = Pattern({5, 28, 28});
  at::Tensor labels = Pattern({5});
  ASSERT_TRUE(WriteIdx(dir / "img", images, false).ok());
  ASSERT_TRUE(WriteIdx(dir / "img.gz", images, true).ok());
  ASSERT_TRUE(WriteIdx(dir / "lab.gz", labels, true).ok());
  for (const char* name : {"img", "img.gz"}) {
    auto r = ReadIdxImages(dir / name);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(at::equal(r.value(), images)) << name;
  }
  auto l = ReadIdxLabels(dir / "lab.gz");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_TRUE(at::equal(l.value(), labels));
  // An image file is not a label file (and vice versa), with the path in the message.
  auto bad = ReadIdxLabels(dir / "img");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(dir / "img"), std::string::npos);
  EXPECT_NE(bad.status().message().find("labels need 1"), std::string::npos);
}

TEST(Idx, TruncatedBadMagicAndTrailingBytesNameFileAndOffset) {
  TempDir dir;
  at::Tensor images = Pattern({3, 4, 4});
  ASSERT_TRUE(WriteIdx(dir / "a", images, false).ok());
  auto full = fc::ReadSmallFile(dir / "a", 1 << 20).value();
  // Short body.
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "short", full.substr(0, full.size() - 5)).ok());
  auto r = ReadIdx(dir / "short");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_NE(r.status().message().find(dir / "short"), std::string::npos);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  EXPECT_NE(r.status().message().find("byte offset 16"), std::string::npos) << r.status().message();
  // Header cut inside the dimensions.
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "hdr", full.substr(0, 7)).ok());
  r = ReadIdx(dir / "hdr");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("header truncated at byte offset 7"), std::string::npos)
      << r.status().message();
  // Bad magic.
  std::string magic = full;
  magic[0] = 0x1f;
  magic[1] = 0x00;
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "magic", magic).ok());
  r = ReadIdx(dir / "magic");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad IDX magic"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("byte offset 0"), std::string::npos);
  // Wrong element type (float 0x0d).
  std::string type = full;
  type[2] = 0x0d;
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "type", type).ok());
  r = ReadIdx(dir / "type");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("byte offset 2"), std::string::npos);
  // Trailing bytes.
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "long", full + "xyz").ok());
  r = ReadIdx(dir / "long");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos);
  // Missing file.
  r = ReadIdx(dir / "none.gz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "none.gz"), std::string::npos);
}

TEST(Idx, TruncatedGzipIsAnError) {
  TempDir dir;
  at::Tensor images = at::randint(0, 256, {50, 28, 28}, at::kLong).to(at::kByte);
  ASSERT_TRUE(WriteIdx(dir / "a.gz", images, true).ok());
  testing::Truncate(dir / "a.gz", testing::SizeOf(dir / "a.gz") / 2);
  auto r = ReadIdx(dir / "a.gz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_NE(r.status().message().find(dir / "a.gz"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("byte offset"), std::string::npos) << r.status().message();
}

TEST(Idx, DebianFashionMnist) {
  if (!fc::Exists(kDefaultTestImages)) GTEST_SKIP() << kDefaultTestImages << " not installed";
  auto r = ReadIdxImages(kDefaultTestImages);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().sizes(), at::IntArrayRef({10000, 28, 28}));
  auto l = ReadIdxLabels(kDefaultTestLabels);
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l.value().size(0), 10000);
  EXPECT_EQ(l.value().max().item<int>(), 9);
}

}  // namespace
}  // namespace fc::data
