// Reports: PNG bytes re-read by Python (zlib + struct, CRCs checked), the plot's pixels, CSV
// content, JSON parsed by Python, and the console table.
#include "eval/report.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "eval/eval_testing.h"
#include "media/png.h"

namespace fc::eval {
namespace {

// Decodes a PNG (8-bit, filter types 0-4, non-interlaced) and prints "W H C" then the pixel
// bytes in hex; exits 1 on a bad CRC.
const char* kReadPng = R"PY(
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); kind = data[pos + 4:pos + 8]
    body = data[pos + 8:pos + 8 + n]; crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    if zlib.crc32(kind + body) & 0xffffffff != crc:
        print("bad crc", kind); sys.exit(1)
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    if kind == b"IDAT": idat += body
    pos += 12 + n
w, h, depth, ctype = ihdr[:4]
c = {0: 1, 2: 3, 6: 4}[ctype]
raw = zlib.decompress(idat); stride = w * c; out = bytearray(); prev = bytearray(stride)
for y in range(h):
    f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - c] if i >= c else 0; b = prev[i]; cc = prev[i - c] if i >= c else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - cc; pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
    out += line; prev = line
print(w, h, c)
print(out.hex() if len(sys.argv) < 3 else sum(out))
)PY";

std::string Hex(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  std::string s;
  char buf[3];
  for (int64_t i = 0; i < c.numel(); ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", c.data_ptr<uint8_t>()[i]);
    s += buf;
  }
  return s;
}

TEST(Png, PythonReadsBackSizeAndPixels) {
  const std::string dir = testing::MakeTempDir();
  at::manual_seed(13);
  for (int64_t c : {1, 3, 4}) {
    at::Tensor img = at::randint(0, 256, {5, 7, c}, at::kByte);
    const std::string path = dir + "/img" + std::to_string(c) + ".png";
    ASSERT_TRUE(media::WritePng(path, img).ok());
    int rc = 0;
    std::string out = testing::RunPython(dir, "readpng", kReadPng, path, &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(out, "7 5 " + std::to_string(c) + "\n" + Hex(img) + "\n");
  }
  EXPECT_FALSE(media::EncodePng(at::zeros({4, 4, 2}, at::kByte)).ok());
  EXPECT_FALSE(media::EncodePng(at::zeros({4, 4, 3}, at::kFloat)).ok());
  auto bad = media::WritePng(dir + "/no/such/dir/x.png", at::zeros({2, 2, 1}, at::kByte));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("x.png"), std::string::npos);
}

EvalReport SampleReport() {
  EvalOptions o;
  o.context = 2;
  o.horizon = 2;
  o.samples = 100;
  EvalReport r;
  r.protocol = ProtocolOf(o, 3, "smmnist-test-v1", 42);
  MethodResult a;
  a.name = "hvrnn";
  a.sequences = 3;
  a.samples = 100;
  a.horizon = 2;
  a.psnr = Summarize("psnr", Direction::kHigherIsBetter,
                     at::tensor({20.0, 18.0, 22.0, 19.0, 21.0, 17.0}, at::kDouble).reshape({3, 2}),
                     at::tensor({4, 5, 6}));
  a.ssim = Summarize("ssim", Direction::kHigherIsBetter,
                     at::tensor({0.75, 0.5, 0.5, 0.25, 0.25, 0.0}, at::kDouble).reshape({3, 2}),
                     at::tensor({1, 2, 3}));
  a.lpips.name = "lpips";
  a.lpips.note = "no LPIPS TorchScript given";
  a.fvd.available = true;
  a.fvd.mean = 123.5;
  a.fvd.std = 1.5;
  a.fvd.draws = {121.75, 124.75};
  MethodResult b = a;
  b.name = "copy-last";
  b.samples = 1;
  b.fvd = FvdResult();
  b.fvd.note = "no I3D TorchScript given";
  r.methods = {a, b};
  return r;
}

TEST(Report, CsvContent) {
  EXPECT_EQ(CurvesCsv(SampleReport()),
            "frame,method,psnr,ssim,lpips\n"
            "1,hvrnn,21,0.5,\n"
            "2,hvrnn,18,0.25,\n"
            "1,copy-last,21,0.5,\n"
            "2,copy-last,18,0.25,\n");
}

TEST(Report, TableShowsNaForUnavailable) {
  const std::string t = FormatTable(SampleReport());
  std::istringstream is(t);
  std::string header, rule, row1, row2;
  std::getline(is, header);
  std::getline(is, rule);
  std::getline(is, row1);
  std::getline(is, row2);
  EXPECT_EQ(header.substr(0, 6), "method");
  EXPECT_NE(header.find("| PSNR"), std::string::npos);
  EXPECT_NE(row1.find("hvrnn"), std::string::npos);
  EXPECT_NE(row1.find("19.50 \u00b1 "), std::string::npos) << row1;
  EXPECT_NE(row1.find("123.5 \u00b1 1.5"), std::string::npos) << row1;
  EXPECT_NE(row1.find("| n/a"), std::string::npos);
  EXPECT_EQ(row2.substr(row2.size() - 3), "n/a");
}

TEST(Report, WriteReportFilesAndJson) {
  const std::string dir = testing::MakeTempDir() + "/out";
  EvalReport rep = SampleReport();
  ASSERT_TRUE(WriteReport(rep, dir).ok());
  const std::string script = R"PY(
import json, os, sys
d = sys.argv[1]
r = json.load(open(os.path.join(d, "report.json")))
p = r["protocol"]
assert (p["context"], p["horizon"], p["samples"], p["sequences"], p["dataset_seed"]) == (2, 2, 100, 3, 42), p
assert p["dataset"] == "smmnist-test-v1" and "best-of-N" in p["selection"]
m = r["methods"][0]
assert m["name"] == "hvrnn" and abs(m["psnr"]["mean"] - 19.5) < 1e-12 and m["psnr"]["per_frame"] == [21, 18]
assert m["lpips"]["available"] is False and m["fvd"]["draws"] == [121.75, 124.75]
assert r["methods"][1]["fvd"]["available"] is False
print(sorted(f for f in os.listdir(d)))
)PY";
  int rc = 0;
  std::string out = testing::RunPython(dir, "../check", script, dir, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out,
            "['curves.csv', 'curves_psnr.png', 'curves_ssim.png', 'report.json', 'table.txt']\n");
  std::string png_out =
      testing::RunPython(dir, "../readpng", kReadPng, dir + "/curves_psnr.png sum", &rc);
  ASSERT_EQ(rc, 0) << png_out;
  EXPECT_EQ(png_out.substr(0, png_out.find('\n')), "640 400 3");
}

TEST(Report, PlotDrawsSeriesAxesAndLegend) {
  LinePlot plot;
  plot.title = "ssim per frame";
  plot.x_label = "frame";
  plot.y_label = "ssim";
  plot.series = {{"model", {0.9, 0.8, 0.7, 0.65}}, {"copy-last", {0.85, 0.6, 0.5, 0.4}}};
  at::Tensor img = RenderLinePlot(plot);
  ASSERT_EQ(img.sizes(), (at::IntArrayRef{400, 640, 3}));
  auto count = [&](std::array<uint8_t, 3> c) {
    at::Tensor ref = at::tensor({c[0], c[1], c[2]}, at::kByte);
    return (img == ref).all(2).sum().item<int64_t>();
  };
  EXPECT_GT(count(SeriesColor(0)), 200);
  EXPECT_GT(count(SeriesColor(1)), 200);
  EXPECT_EQ(count(SeriesColor(2)), 0);
  EXPECT_GT(count({0, 0, 0}), 500);           // axes, ticks, text
  EXPECT_GT(count({255, 255, 255}), 150000);  // mostly background
  // Degenerate inputs still render.
  LinePlot flat;
  flat.series = {{"one", {1.0}}};
  EXPECT_EQ(RenderLinePlot(flat).size(0), 400);
}

}  // namespace
}  // namespace fc::eval
