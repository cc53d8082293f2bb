#include "dist/gradient_sync.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <cstring>
#include <map>
#include <sstream>

#include "dist/watchdog.h"
#include "util/timeline.h"

namespace fc::dist {

namespace {

std::string Signature(const std::string& name, const at::Tensor& t) {
  std::ostringstream os;
  os << name << " " << c10::toString(t.scalar_type()) << " " << t.sizes();
  return os.str();
}

// Broadcast a byte string from rank 0 (length first).
Result<std::string> BroadcastString(Communicator* comm, const std::string& s) {
  at::Tensor len = at::tensor({static_cast<int64_t>(s.size())}, at::kLong);
  FC_RETURN_IF_ERROR(comm->Broadcast(len, 0)->Wait());
  at::Tensor bytes = at::zeros({len.item<int64_t>()}, at::kByte);
  if (comm->rank() == 0 && !s.empty()) std::memcpy(bytes.data_ptr(), s.data(), s.size());
  FC_RETURN_IF_ERROR(comm->Broadcast(bytes, 0)->Wait());
  return std::string(static_cast<const char*>(bytes.data_ptr()),
                     static_cast<size_t>(bytes.numel()));
}

}  // namespace

// Post-hook on a parameter's AccumulateGrad node: runs after autograd accumulated into .grad.
class GradientSync::Hook : public torch::autograd::FunctionPostHook {
 public:
  Hook(GradientSync* sync, int index) : sync_(sync), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    sync_->OnGradReady(index_);
    return outputs;
  }

 private:
  GradientSync* sync_;
  int index_;
};

Result<std::unique_ptr<GradientSync>> GradientSync::Create(torch::nn::Module& module,
                                                           Communicator* comm,
                                                           const GradientSyncOptions& options,
                                                           const std::string& name) {
  std::unique_ptr<GradientSync> s(new GradientSync());
  s->comm_ = comm;
  s->name_ = name;
  s->options_ = options;
  if (options.wire_dtype != at::kFloat && options.wire_dtype != at::kBFloat16 &&
      options.wire_dtype != at::kHalf)
    return Status::InvalidArgument("GradientSync(" + name +
                                   "): wire dtype must be float32, "
                                   "bfloat16 or float16");
  std::vector<std::pair<std::string, at::Tensor>> all;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    all.emplace_back(item.key(), item.value());
  FC_RETURN_IF_ERROR(s->VerifyAcrossRanks(all).WithContext("GradientSync(" + name + ")"));
  if (options.broadcast_initial_state) {
    FC_RETURN_IF_ERROR(s->BroadcastState(module).WithContext("GradientSync(" + name + ")"));
  }
  for (auto& [n, t] : all) {
    if (!t.requires_grad()) continue;
    if (!t.is_non_overlapping_and_dense()) {
      return Status::InvalidArgument("GradientSync(" + name + "): parameter " + n +
                                     " is not dense; gradients cannot be bucket views");
    }
    s->params_.push_back(Param{n, t, at::Tensor(), 0, false});
  }
  s->BuildBuckets(options);
  // Hooks last: the object is complete before any can fire.
  for (size_t i = 0; i < s->params_.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(s->params_[i].tensor);
    s->hook_keys_.push_back(
        acc->add_post_hook(std::make_unique<Hook>(s.get(), static_cast<int>(i))));
    s->accumulators_.push_back(std::move(acc));
  }
  return s;
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(hook_keys_[i]);
}

Status GradientSync::VerifyAcrossRanks(
    const std::vector<std::pair<std::string, at::Tensor>>& params) {
  std::string mine;
  std::vector<std::string> sigs;
  for (const auto& [n, t] : params) {
    sigs.push_back(Signature(n, t));
    mine += sigs.back() + "\n";
  }
  FC_ASSIGN_OR_RETURN(std::string root, BroadcastString(comm_, mine));
  std::vector<std::string> root_sigs;
  std::istringstream is(root);
  for (std::string line; std::getline(is, line);) root_sigs.push_back(line);
  std::string diff;
  for (size_t i = 0; i < std::max(sigs.size(), root_sigs.size()); ++i) {
    std::string a = i < sigs.size() ? sigs[i] : "(none)";
    std::string b = i < root_sigs.size() ? root_sigs[i] : "(none)";
    if (a != b) {
      diff = "parameter #" + std::to_string(i) + " is '" + a + "' where rank 0 has '" + b + "'";
      break;
    }
  }
  constexpr int64_t kRow = 512;
  at::Tensor row = at::zeros({kRow}, at::kByte);
  std::memcpy(row.data_ptr(), diff.data(), std::min<size_t>(diff.size(), kRow - 1));
  at::Tensor rows = at::zeros({kRow * comm_->size()}, at::kByte);
  FC_RETURN_IF_ERROR(comm_->AllGather(row, rows)->Wait());
  std::string msg;
  for (int r = 0; r < comm_->size(); ++r) {
    const char* p = static_cast<const char*>(rows.data_ptr()) + r * kRow;
    if (*p == 0) continue;
    if (!msg.empty()) msg += "; ";
    msg += "on rank " + std::to_string(r) + " " + std::string(p, strnlen(p, kRow));
  }
  if (!msg.empty()) return Status::InvalidArgument("parameters differ across ranks: " + msg);
  return Status::Ok();
}

Status GradientSync::BroadcastState(torch::nn::Module& module) {
  // Group parameters and buffers by dtype/device; one broadcast of a flat copy per group.
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> groups;
  for (const auto& p : module.parameters(true)) {
    groups[{static_cast<int>(p.scalar_type()), p.device().str()}].push_back(p);
  }
  for (const auto& b : module.buffers(true)) {
    groups[{static_cast<int>(b.scalar_type()), b.device().str()}].push_back(b);
  }
  torch::NoGradGuard no_grad;
  for (auto& [key, tensors] : groups) {
    std::vector<at::Tensor> flat;
    for (auto& t : tensors) flat.push_back(t.detach().reshape({-1}));
    at::Tensor packed = at::cat(flat);
    FC_RETURN_IF_ERROR(comm_->Broadcast(packed, 0)->Wait());
    int64_t off = 0;
    for (auto& t : tensors) {
      t.detach().copy_(packed.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
  return Status::Ok();
}

void GradientSync::BuildBuckets(const GradientSyncOptions& options) {
  // Reverse registration order: gradients of the last layers arrive first in backward.
  struct Open {
    int bucket = -1;
    int64_t bytes = 0;
    int64_t cap = 0;
  };
  std::map<std::pair<int, std::string>, Open> open;
  std::vector<std::vector<int>> members;
  std::vector<int64_t> numels;
  for (int i = static_cast<int>(params_.size()) - 1; i >= 0; --i) {
    const at::Tensor& t = params_[i].tensor;
    auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto it = open.find(key);
    const int64_t bytes = t.numel() * t.element_size();
    if (it == open.end()) {
      it = open.emplace(key, Open{-1, 0, options.first_bucket_bytes}).first;
    }
    Open& o = it->second;
    if (o.bucket < 0 || (o.bytes > 0 && o.bytes + bytes > o.cap)) {
      if (o.bucket >= 0) o.cap = options.bucket_bytes;  // after the first bucket of a group
      o.bucket = static_cast<int>(members.size());
      o.bytes = 0;
      members.emplace_back();
      numels.push_back(0);
    }
    members[o.bucket].push_back(i);
    params_[i].bucket = o.bucket;
    numels[o.bucket] += t.numel();
    o.bytes += bytes;
  }
  torch::NoGradGuard no_grad;
  buckets_.resize(members.size());
  for (size_t b = 0; b < members.size(); ++b) {
    const at::Tensor& first = params_[members[b][0]].tensor;
    buckets_[b].buffer = at::zeros({numels[b]}, first.options().requires_grad(false));
    buckets_[b].params = members[b];
    buckets_[b].pending = static_cast<int>(members[b].size());
    int64_t off = 0;
    for (int i : members[b]) {
      Param& p = params_[i];
      p.view = buckets_[b].buffer.as_strided(p.tensor.sizes(), p.tensor.strides(), off);
      off += p.tensor.numel();
      // Keep what the parameter already accumulated, then make .grad the view.
      if (p.tensor.grad().defined()) p.view.copy_(p.tensor.grad());
      p.tensor.mutable_grad() = p.view;
    }
  }
}

void GradientSync::OnGradReady(int index) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!in_backward_) {
    in_backward_ = true;
    torch::autograd::Engine::get_default_engine().queue_callback([this] {
      Status st = FinalizeBackward();
      if (!st.ok()) throw std::runtime_error("GradientSync(" + name_ + "): " + st.ToString());
    });
  }
  Param& p = params_[index];
  if (p.ready) {
    last_status_ = Status::Internal(
        "parameter " + p.name +
        " received a gradient twice in one synchronised backward (a second backward without "
        "NoSync, or a parameter used outside the graph the hooks saw)");
    return;
  }
  p.ready = true;
  const at::Tensor& g = p.tensor.grad();
  if (!g.is_same(p.view)) {
    p.view.copy_(g);
    p.tensor.mutable_grad() = p.view;
  }
  if (--buckets_[p.bucket].pending == 0) LaunchReadyBuckets();
}

bool GradientSync::Compressed(const Bucket& b) const {
  return options_.wire_dtype != b.buffer.scalar_type() && b.buffer.scalar_type() == at::kFloat;
}

void GradientSync::LaunchReadyBuckets() {
  while (next_bucket_ < num_buckets() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_];
    if (timeline::Enabled()) b.launch_us = timeline::NowUs();
    CollectiveLabel label("gradient bucket " + std::to_string(next_bucket_) + " of " + name_);
    if (Compressed(b)) {
      torch::NoGradGuard ng;
      if (options_.error_feedback) {
        if (!b.residual.defined()) b.residual = at::zeros_like(b.buffer);
        b.buffer.add_(b.residual);
      }
      b.wire = b.buffer.to(options_.wire_dtype);
      if (options_.error_feedback) at::sub_out(b.residual, b.buffer, b.wire.to(b.buffer.dtype()));
      b.work = comm_->AllReduce(b.wire, ReduceOp::kAvg);
    } else {
      b.work = comm_->AllReduce(b.buffer, ReduceOp::kAvg);
    }
    ++next_bucket_;
  }
}

Status GradientSync::FinalizeBackward() {
  std::lock_guard<std::mutex> lock(mu_);
  // Parameters that got no gradient on this rank: contribute .grad as it is, or zeros.
  for (Bucket& b : buckets_) {
    if (b.pending == 0) continue;
    for (int i : b.params) {
      Param& p = params_[i];
      if (p.ready) continue;
      const at::Tensor& g = p.tensor.grad();
      if (!g.defined()) {
        p.view.zero_();
      } else if (!g.is_same(p.view)) {
        p.view.copy_(g);
      }
      p.tensor.mutable_grad() = p.view;
      p.ready = true;
    }
    b.pending = 0;
  }
  LaunchReadyBuckets();
  Status st = last_status_;
  timeline::Span wait_span("all-reduce wait", "comm");
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    if (b.work) {
      Status w = b.work->Wait();
      if (timeline::Enabled())  // launch to completion, as far as this thread can see it
        timeline::Record("all-reduce", "comm", b.launch_us, timeline::NowUs() - b.launch_us,
                         timeline::CommTrack(static_cast<int>(i)),
                         b.wire.defined() ? b.wire.numel() * b.wire.element_size()
                                          : b.buffer.numel() * b.buffer.element_size(),
                         "bytes");  // on the wire
      if (st.ok() && !w.ok())
        st = w.WithContext("bucket of " +
                           std::to_string(b.buffer.numel() * b.buffer.element_size()) + " bytes");
      b.work.reset();
      if (b.wire.defined()) {
        torch::NoGradGuard ng;
        b.buffer.copy_(b.wire);  // the average, back into the fp32 bucket
        b.wire = at::Tensor();
      }
    }
    b.pending = static_cast<int>(b.params.size());
  }
  wait_span.End();
  for (Param& p : params_) {
    p.ready = false;
    if (!p.tensor.grad().is_same(p.view)) p.tensor.mutable_grad() = p.view;
  }
  next_bucket_ = 0;
  in_backward_ = false;
  finalized_since_finish_ = true;
  last_status_ = st;
  return st;
}

Status GradientSync::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finalized_since_finish_) {
      finalized_since_finish_ = false;
      Status st = last_status_;
      last_status_ = Status::Ok();
      return st;
    }
    if (!enabled_) return Status::Ok();  // inside NoSync: nothing to do
  }
  // No hook fired on this rank: the other ranks still expect every bucket.
  Status st = SyncNow();
  std::lock_guard<std::mutex> lock(mu_);
  finalized_since_finish_ = false;
  last_status_ = Status::Ok();
  return st;
}

void GradientSync::ZeroGrad() {
  std::lock_guard<std::mutex> lock(mu_);
  torch::NoGradGuard ng;
  for (Bucket& b : buckets_) b.buffer.zero_();
  for (Param& p : params_) {
    if (!p.tensor.grad().is_same(p.view)) p.tensor.mutable_grad() = p.view;
  }
}

Status GradientSync::SyncNow() { return FinalizeBackward(); }

int64_t GradientSync::bucket_bytes(int i) const {
  return buckets_[i].buffer.numel() * buckets_[i].buffer.element_size();
}

int64_t GradientSync::total_bytes() const {
  int64_t s = 0;
  for (int i = 0; i < num_buckets(); ++i) s += bucket_bytes(i);
  return s;
}

}  // namespace fc::dist
