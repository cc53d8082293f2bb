#include "data/prepared.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/prepare.h"
#include "data/sources.h"
#include "data/test_util.h"
#include "media/png.h"
#include "util/files.h"

namespace fc::data {
namespace {

using testing::TempDir;

// Frame f of sequence s: a deterministic pattern.
at::Tensor Frame(int s, int f, int h = 8, int w = 8) {
  return at::arange(h * w * 3, at::kLong)
      .mul(7 + s)
      .add(31 * f + 3 * s)
      .remainder(256)
      .to(at::kByte)
      .reshape({h, w, 3});
}

// raw/<class>/<seq>/<f>.png for two classes, `per_class` sequences, `frames` frames each.
void MakeRaw(const std::string& root, int per_class, int frames) {
  int s = 0;
  for (const char* cls : {"boxing", "walking"}) {
    for (int k = 0; k < per_class; ++k, ++s) {
      const std::string dir = root + "/" + cls + "/seq" + std::to_string(k);
      ASSERT_TRUE(fc::MakeDirs(dir).ok());
      for (int f = 0; f < frames; ++f) {
        ASSERT_TRUE(media::WritePng(dir + "/" + std::to_string(f) + ".png", Frame(s, f)).ok());
      }
    }
  }
}

TEST(Prepared, PrepareFramesRoundTripSplitsLabelsAndSources) {
  TempDir dir;
  MakeRaw(dir / "raw", 3, 12);
  PrepareOptions o;
  o.input = dir / "raw";
  o.output = dir / "ds";
  o.labels = "parent";
  o.test_range = "2:4";  // boxing/seq2 and walking/seq0
  auto r = Prepare(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().train_sequences, 4);
  EXPECT_EQ(r.value().test_sequences, 2);
  auto ds = PreparedDataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  const auto& m = ds.value()->manifest();
  EXPECT_EQ(m.height(), 8);
  EXPECT_EQ(m.channels(), 3);
  ASSERT_EQ(m.label_names_size(), 2);
  EXPECT_EQ(m.label_names(1), "walking");
  const PreparedSplit* train = ds.value()->split("train").value();
  const PreparedSplit* test = ds.value()->split("test").value();
  ASSERT_EQ(train->size(), 4);
  ASSERT_EQ(test->size(), 2);
  EXPECT_EQ(test->sequence_name(0), "boxing/seq2");
  EXPECT_EQ(test->sequence_name(1), "walking/seq0");
  EXPECT_EQ(test->label(1), 1);
  // Exact frames back (PNG is lossless), including a strided read.
  auto all = test->Read(1, 0, 12);
  ASSERT_TRUE(all.ok()) << all.status().message();
  for (int f = 0; f < 12; ++f) EXPECT_TRUE(at::equal(all.value()[f], Frame(3, f))) << f;
  auto strided = test->Read(1, 1, 4, 3);
  ASSERT_TRUE(strided.ok());
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(at::equal(strided.value()[k], Frame(3, 1 + 3 * k)));
  EXPECT_FALSE(test->Read(1, 1, 5, 3).ok());  // past the end
  EXPECT_TRUE(train->VerifyAll().ok());

  // Sources: training windows of 5 frames, stride 2 (span 9 of 12) at key-chosen starts; test
  // clips are the first 5 frames. Frames come out as [T, C, H, W].
  framecast::DataConfig c;
  c.mutable_clips()->set_path(dir / "ds");
  c.mutable_clips()->set_frame_stride(2);
  ASSERT_TRUE(ApplyDataDefaults(&c).ok());
  ASSERT_TRUE(ValidateData(c).ok());
  auto tr = MakeTrainSource(c, 5);
  auto te = MakeTestSource(c, 5);
  ASSERT_TRUE(tr.ok()) << tr.status().message();
  ASSERT_TRUE(te.ok()) << te.status().message();
  EXPECT_EQ(tr.value()->size(), 4);
  EXPECT_EQ(tr.value()->num_classes(), 2);
  std::set<int> starts;
  for (uint64_t key = 0; key < 40; ++key) {
    Clip clip = tr.value()->Get(3, key).value();  // train sequence 3 = walking/seq2 (s = 5)
    ASSERT_EQ(clip.frames.sizes(), at::IntArrayRef({5, 3, 8, 8}));
    EXPECT_EQ(clip.label, 1);
    int start = -1;
    for (int s0 = 0; s0 <= 3; ++s0) {
      if (at::equal(clip.frames[0], Frame(5, s0).permute({2, 0, 1}))) start = s0;
    }
    ASSERT_GE(start, 0);
    for (int k = 0; k < 5; ++k) {
      ASSERT_TRUE(at::equal(clip.frames[k], Frame(5, start + 2 * k).permute({2, 0, 1})));
    }
    starts.insert(start);
  }
  EXPECT_EQ(starts.size(), 4u);  // every start in [0, 3] drawn
  Clip t0 = te.value()->Get(0, 123).value();
  for (int k = 0; k < 5; ++k)
    EXPECT_TRUE(at::equal(t0.frames[k], Frame(2, 2 * k).permute({2, 0, 1})));
  // Resize on load.
  c.mutable_clips()->set_image_size(4);
  auto small = MakeTestSource(c, 2);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small.value()->Get(0, 0).value().frames.sizes(), at::IntArrayRef({2, 3, 4, 4}));
  // A window longer than every sequence.
  EXPECT_FALSE(MakeTrainSource(c, 13).ok());
  auto long_test = MakeTestSource(c, 13);
  ASSERT_FALSE(long_test.ok());
  EXPECT_NE(long_test.status().message().find("boxing/seq2"), std::string::npos);
}

TEST(Prepared, CorruptedByteIsDetectedWithFileAndOffset) {
  TempDir dir;
  MakeRaw(dir / "raw", 1, 4);
  PrepareOptions o;
  o.input = dir / "raw";
  o.output = dir / "ds";
  ASSERT_TRUE(Prepare(o).ok());
  // Sequence 1, frame 2 starts at (4 + 2) * 192 bytes.
  const int64_t off = (4 + 2) * 8 * 8 * 3;
  testing::FlipByte(dir / "ds/train.frames", off + 17);
  auto ds = PreparedDataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok());
  const PreparedSplit* train = ds.value()->split("train").value();
  EXPECT_TRUE(train->Read(1, 0, 2).ok());  // other frames still read
  auto r = train->Read(1, 1, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_NE(r.status().message().find(dir / "ds/train.frames"), std::string::npos);
  EXPECT_NE(r.status().message().find("frame 2 at byte offset " + std::to_string(off)),
            std::string::npos)
      << r.status().message();
  Status v = train->VerifyAll();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.message(), r.status().message());
  // A damaged index and a truncated frames file are caught at open.
  testing::FlipByte(dir / "ds/train.index", 40);
  auto bad = PreparedDataset::Open(dir / "ds");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("train.index: CRC-32C mismatch"), std::string::npos);
  testing::FlipByte(dir / "ds/train.index", 40);
  testing::Truncate(dir / "ds/train.frames", 100);
  bad = PreparedDataset::Open(dir / "ds");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("train.frames: 100 bytes"), std::string::npos);
}

TEST(Prepared, FailedPrepareLeavesNothingThatLooksValid) {
  TempDir dir;
  MakeRaw(dir / "raw", 2, 3);
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "raw/walking/seq1/1.png", "not a png at all").ok());
  PrepareOptions o;
  o.input = dir / "raw";
  o.output = dir / "ds";
  o.threads = 2;
  auto r = Prepare(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("raw/walking/seq1/1.png"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fc::Exists(dir / "ds"));
  for (const auto& n : fc::ListDir(dir.path())) EXPECT_EQ(n.find("partial"), std::string::npos);
  // With skip-bad the rest is prepared and the bad sequence counted.
  o.skip_bad = true;
  auto ok = Prepare(o);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok.value().skipped, 1);
  EXPECT_EQ(ok.value().train_sequences, 3);
  // An existing output is kept unless overwrite.
  o.skip_bad = true;
  auto again = Prepare(o);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already exists"), std::string::npos);
}

TEST(Prepared, ChunksTestListAndTestCount) {
  TempDir dir;
  // Cityscapes-like: one folder per city holding several 4-frame snippets back to back.
  for (const char* city : {"aachen", "bonn"}) {
    const std::string d = dir / "raw" + "/" + city;
    ASSERT_TRUE(fc::MakeDirs(d).ok());
    for (int f = 0; f < 13; ++f) {
      ASSERT_TRUE(
          media::WritePng(d + "/" + city + "_" + std::to_string(f) + ".png", Frame(0, f)).ok());
    }
  }
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "list", "# test\nbonn#0\nbonn#2\n").ok());
  PrepareOptions o;
  o.input = dir / "raw";
  o.output = dir / "ds";
  o.chunk = 4;
  o.test_list = dir / "list";
  o.test_count = 1;
  auto r = Prepare(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().test_sequences, 1);
  EXPECT_EQ(r.value().train_sequences, 4);  // aachen#0..2, bonn#1 (bonn#0 or #2 dropped)
  auto ds = PreparedDataset::Open(dir / "ds").value();
  EXPECT_EQ(ds->split("train").value()->frames(0), 4);
  const std::string t = ds->split("test").value()->sequence_name(0);
  EXPECT_TRUE(t == "bonn#0" || t == "bonn#2") << t;
  ASSERT_TRUE(fc::WriteFileAtomic(dir / "list2", "bonn#9\n").ok());
  o.test_list = dir / "list2";
  o.test_count = 0;
  o.overwrite = true;
  auto bad = Prepare(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("list2:1: 'bonn#9'"), std::string::npos);
}

}  // namespace
}  // namespace fc::data
