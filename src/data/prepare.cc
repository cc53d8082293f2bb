#include "data/prepare.h"

#include <ATen/ATen.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "data/prepared.h"
#include "data/rng.h"
#include "data/sampler.h"
#include "util/files.h"
#include "util/logging.h"

namespace fc::data {
namespace {

struct Item {
  std::string name;                // relative to the input root (chunks: "folder#k")
  std::string path;                // file or folder
  std::vector<std::string> files;  // frames format: the frames of this sequence
  std::string label_name;          // "" when none
  std::string split;               // "train" | "test"
  int64_t label = -1;
};

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Depth-first walk in natural order; calls visit(relative dir) for every directory.
void Walk(const std::string& root, const std::string& rel,
          const std::function<void(const std::string&)>& visit) {
  visit(rel);
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  std::vector<std::string> names = ListDir(dir);
  std::sort(names.begin(), names.end(), NaturalLess);
  for (const auto& n : names) {
    if (!n.empty() && n[0] == '.') continue;
    const std::string child = rel.empty() ? n : rel + "/" + n;
    if (IsDir(root + "/" + child)) Walk(root, child, visit);
  }
}

std::string ParentName(const std::string& rel_dir) {  // last component of a relative folder
  if (rel_dir.empty()) return "";
  size_t s = rel_dir.rfind('/');
  return s == std::string::npos ? rel_dir : rel_dir.substr(s + 1);
}

std::string ParentDir(const std::string& rel) {
  size_t s = rel.rfind('/');
  return s == std::string::npos ? "" : rel.substr(0, s);
}

Result<std::vector<Item>> Scan(const PrepareOptions& o) {
  std::vector<Item> items;
  if (o.format == "frames") {
    Walk(o.input, "", [&](const std::string& rel) {
      const std::string dir = rel.empty() ? o.input : o.input + "/" + rel;
      std::vector<std::string> files = ListFrameFiles(dir);
      if (files.empty()) return;
      const std::string label = ParentName(ParentDir(rel.empty() ? "" : rel));
      if (o.chunk > 0) {
        const size_t n = files.size() / o.chunk;
        for (size_t k = 0; k < n; ++k) {
          Item it;
          it.name = (rel.empty() ? "." : rel) + "#" + std::to_string(k);
          it.path = dir;
          it.files.assign(files.begin() + k * o.chunk, files.begin() + (k + 1) * o.chunk);
          it.label_name = label;
          items.push_back(std::move(it));
        }
        if (files.size() % o.chunk != 0) {
          LogWarning(dir + ": " + std::to_string(files.size() % o.chunk) +
                     " frames after the last full chunk of " + std::to_string(o.chunk) +
                     " are not used");
        }
      } else {
        Item it;
        it.name = rel.empty() ? "." : rel;
        it.path = dir;
        it.files = std::move(files);
        it.label_name = label;
        items.push_back(std::move(it));
      }
    });
  } else if (o.format == "video") {
    Walk(o.input, "", [&](const std::string& rel) {
      const std::string dir = rel.empty() ? o.input : o.input + "/" + rel;
      std::vector<std::string> names = ListDir(dir);
      std::sort(names.begin(), names.end(), NaturalLess);
      for (const auto& n : names) {
        if (!IsVideoFile(n) || IsDir(dir + "/" + n)) continue;
        Item it;
        it.name = rel.empty() ? n : rel + "/" + n;
        it.path = dir + "/" + n;
        it.label_name = ParentName(rel);
        items.push_back(std::move(it));
      }
    });
  } else {
    return Status::InvalidArgument("--format: '" + o.format + "' (use frames or video)");
  }
  if (items.empty()) {
    return Status::NotFound(
        o.input + ": no " +
        std::string(o.format == "frames" ? "folders of image files" : "video files") + " found");
  }
  return items;
}

Result<std::pair<int64_t, int64_t>> ParseRange(const std::string& s) {
  size_t colon = s.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    size_t p1 = 0, p2 = 0;
    int64_t a = std::stoll(s.substr(0, colon), &p1);
    int64_t b = std::stoll(s.substr(colon + 1), &p2);
    if (p1 != colon || p2 != s.size() - colon - 1 || a < 0 || b <= a)
      throw std::invalid_argument("");
    return std::make_pair(a, b);
  } catch (const std::exception&) {
    return Status::InvalidArgument("--test-range: '" + s + "' is not a:b with 0 <= a < b");
  }
}

Status AssignSplits(const PrepareOptions& o, std::vector<Item>* items) {
  const int64_t n = static_cast<int64_t>(items->size());
  std::vector<bool> test(n, false);
  if (!o.test_range.empty()) {
    FC_ASSIGN_OR_RETURN(auto range, ParseRange(o.test_range));
    if (range.second > n) {
      return Status::InvalidArgument("--test-range " + o.test_range + ": only " +
                                     std::to_string(n) + " sequences were found");
    }
    for (int64_t i = range.first; i < range.second; ++i) test[i] = true;
  }
  if (!o.test_list.empty()) {
    FC_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(o.test_list, 1 << 28));
    std::map<std::string, int64_t> by_name;
    for (int64_t i = 0; i < n; ++i) by_name[(*items)[i].name] = i;
    size_t pos = 0;
    int line_no = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '/')) {
        line.pop_back();
      }
      while (line.rfind("./", 0) == 0) line = line.substr(2);
      if (line.empty() || line[0] == '#') continue;
      auto it = by_name.find(line);
      if (it == by_name.end()) {
        return Status::InvalidArgument(o.test_list + ":" + std::to_string(line_no) + ": '" + line +
                                       "' is not a sequence under " + o.input);
      }
      test[it->second] = true;
      if (pos > text.size()) break;
    }
  }
  if (!o.test_prefix.empty()) {
    for (int64_t i = 0; i < n; ++i) {
      if ((*items)[i].name.rfind(o.test_prefix, 0) == 0) test[i] = true;
    }
  }
  std::vector<bool> keep(n, true);
  if (o.test_count > 0) {
    std::vector<int64_t> cands;
    for (int64_t i = 0; i < n; ++i) {
      if (test[i]) cands.push_back(i);
    }
    if (static_cast<int64_t>(cands.size()) < o.test_count) {
      return Status::InvalidArgument("--test-count " + std::to_string(o.test_count) + ": only " +
                                     std::to_string(cands.size()) + " test sequences selected");
    }
    std::vector<int64_t> perm = PortablePermutation(cands.size(), HashCombine(o.test_seed, 0));
    std::vector<bool> chosen(n, false);
    for (int64_t k = 0; k < o.test_count; ++k) chosen[cands[perm[k]]] = true;
    for (int64_t i : cands) keep[i] = chosen[i];
  }
  std::vector<Item> out;
  for (int64_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    (*items)[i].split = test[i] ? "test" : "train";
    out.push_back(std::move((*items)[i]));
  }
  *items = std::move(out);
  return Status::Ok();
}

Result<at::Tensor> DecodeItem(const PrepareOptions& o, const Item& it) {
  if (o.format == "video") return DecodeVideo(it.path, o.frames);
  std::vector<at::Tensor> frames;
  for (const auto& f : it.files) {
    if (o.frames.max_frames > 0 && static_cast<int64_t>(frames.size()) >= o.frames.max_frames) {
      break;
    }
    FC_ASSIGN_OR_RETURN(at::Tensor img, DecodeImage(f, o.frames));
    if (!frames.empty() && !frames[0].sizes().equals(img.sizes())) {
      return Status::InvalidArgument(f + ": " + std::to_string(img.size(1)) + "x" +
                                     std::to_string(img.size(0)) + " differs from the earlier " +
                                     "frames of its sequence (use --size)");
    }
    frames.push_back(std::move(img));
  }
  return at::stack(frames);
}

}  // namespace

Result<PrepareReport> Prepare(const PrepareOptions& o_in) {
  PrepareOptions o = o_in;
  if (o.input.empty() || !IsDir(o.input)) {
    return Status::NotFound("prepare: input folder '" + o.input + "' does not exist");
  }
  if (o.output.empty()) return Status::InvalidArgument("--out: required");
  while (o.output.size() > 1 && o.output.back() == '/') o.output.pop_back();
  if (o.labels.empty()) o.labels = o.format == "video" ? "parent" : "none";
  if (o.labels != "parent" && o.labels != "none") {
    return Status::InvalidArgument("--labels: '" + o.labels + "' (use parent or none)");
  }
  if (o.chunk < 0) return Status::InvalidArgument("--chunk: must be >= 0");
  if (o.chunk > 0 && o.format != "frames") {
    return Status::InvalidArgument("--chunk: only with --format frames");
  }
  if (o.frames.channels != 1 && o.frames.channels != 3) {
    return Status::InvalidArgument("--channels: must be 1 or 3");
  }
  if (o.frames.size < 0 || o.frames.crop < 0 || o.frames.max_frames < 0) {
    return Status::InvalidArgument("--size, --crop and --max-frames must be >= 0");
  }
  FC_ASSIGN_OR_RETURN(std::vector<Item> items, Scan(o));
  FC_RETURN_IF_ERROR(AssignSplits(o, &items));
  PrepareReport report;
  std::set<std::string> classes;
  if (o.labels == "parent") {
    for (const auto& it : items) {
      if (it.label_name.empty()) {
        return Status::InvalidArgument(
            o.input + "/" + it.name +
            ": --labels parent needs every sequence inside a class folder (or pass --labels none)");
      }
      classes.insert(it.label_name);
    }
    report.label_names.assign(classes.begin(), classes.end());
    for (auto& it : items) {
      it.label =
          std::lower_bound(report.label_names.begin(), report.label_names.end(), it.label_name) -
          report.label_names.begin();
    }
  }
  const int64_t n = static_cast<int64_t>(items.size());

  // Decode on worker threads (each with its own FFmpeg contexts), write in order.
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, Result<at::Tensor>> done;
  int64_t next = 0, written = 0;
  bool abort = false;
  const int threads = std::max(1, o.threads);
  const int64_t window = 2 * threads;
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      while (true) {
        int64_t i;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return abort || next >= n || next < written + window; });
          if (abort || next >= n) return;
          i = next++;
        }
        Result<at::Tensor> r = DecodeItem(o, items[i]);
        {
          std::lock_guard<std::mutex> lock(mu);
          done.emplace(i, std::move(r));
        }
        cv.notify_all();
      }
    });
  }
  auto stop = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      abort = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  };

  std::unique_ptr<PreparedWriter> writer;
  bool has_test =
      std::any_of(items.begin(), items.end(), [](const Item& it) { return it.split == "test"; });
  Status status;
  for (int64_t i = 0; i < n && status.ok(); ++i) {
    Result<at::Tensor> r = Status::Internal("unset");
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done.count(i) > 0; });
      r = std::move(done.at(i));
      done.erase(i);
      written = i + 1;
    }
    cv.notify_all();
    if (!r.ok()) {
      if (o.skip_bad) {
        LogWarning("prepare: skipping " + items[i].name + ": " + r.status().message());
        ++report.skipped;
        continue;
      }
      status = r.status();
      break;
    }
    at::Tensor frames = r.value();
    if (writer == nullptr) {
      framecast::data::DatasetManifest base;
      base.set_name(o.name.empty() ? BaseName(o.output) : o.name);
      base.set_height(static_cast<int32_t>(frames.size(1)));
      base.set_width(static_cast<int32_t>(frames.size(2)));
      base.set_channels(static_cast<int32_t>(frames.size(3)));
      for (const auto& l : report.label_names) base.add_label_names(l);
      base.set_source(o.input);
      base.set_command(o.command);
      std::vector<std::string> splits = {"train"};
      if (has_test) splits.push_back("test");
      auto w = PreparedWriter::Create(o.output, base, splits, o.overwrite);
      if (!w.ok()) {
        status = w.status();
        break;
      }
      writer = std::move(w.value());
      report.height = base.height();
      report.width = base.width();
      report.channels = base.channels();
    }
    Status s = writer->Add(items[i].split, frames, items[i].label, items[i].name);
    if (!s.ok()) {
      status = s.WithContext(items[i].path);
      break;
    }
    (items[i].split == "test" ? report.test_sequences : report.train_sequences) += 1;
    report.frames += frames.size(0);
    if ((i + 1) % 1000 == 0) {
      LogInfo("prepare: " + std::to_string(i + 1) + " / " + std::to_string(n) + " sequences");
    }
  }
  stop();
  if (!status.ok()) return status;  // the writer's destructor removes its partial folder
  if (writer == nullptr) return Status::Corruption(o.input + ": no sequence could be decoded");
  if (report.train_sequences == 0) {
    return Status::InvalidArgument(o.input + ": every sequence went to the test split");
  }
  FC_RETURN_IF_ERROR(writer->Commit());
  return report;
}

}  // namespace fc::data
