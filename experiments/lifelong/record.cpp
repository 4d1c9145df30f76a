#include "experiments/lifelong/record.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

using nlohmann::json;

namespace peer {

std::string MethodRecord::to_json() const {
  json j = {{"method", method},         {"seed", seed},           {"stream", stream_key},
            {"phases_done", phases_done},   {"scratch_loss", scratch_loss},
            {"init_loss", init_loss},   {"loss", loss},           {"params", params},
            {"trainable", trainable},   {"pools", pools},         {"pool_share", pool_share},
            {"frozen_crc", frozen_crc}, {"train_s", train_s},       {"tokens_trained", tokens_trained}, {"finished", finished},
            {"failed", failed}};
  return j.dump(1) + "\n";
}

MethodRecord MethodRecord::from_json(const std::string& text, const std::string& origin) {
  try {
    json j = json::parse(text);
    MethodRecord r;
    r.method = j.at("method").get<std::string>();
    r.seed = j.at("seed").get<int64_t>();
    r.scratch_loss = j.at("scratch_loss").get<std::vector<double>>();
    r.stream_key = j.at("stream").get<std::string>();
    r.phases_done = j.at("phases_done").get<int64_t>();
    r.init_loss = j.at("init_loss").get<std::vector<double>>();
    r.loss = j.at("loss").get<std::vector<std::vector<double>>>();
    r.params = j.at("params").get<std::vector<int64_t>>();
    r.trainable = j.at("trainable").get<std::vector<int64_t>>();
    r.pools = j.at("pools").get<std::vector<int64_t>>();
    r.pool_share = j.at("pool_share").get<std::vector<std::vector<std::vector<double>>>>();
    if (j.contains("frozen_crc")) r.frozen_crc = j["frozen_crc"].get<std::vector<std::pair<std::string, uint32_t>>>();
    r.train_s = j.at("train_s").get<double>();
    r.tokens_trained = j.at("tokens_trained").get<int64_t>();
    r.finished = j.at("finished").get<bool>();
    r.failed = j.value("failed", std::string());
    if (int64_t(r.loss.size()) != r.phases_done) throw InputError("loss rows do not match phases_done");
    return r;
  } catch (const json::exception& e) {
    throw InputError(origin + ": unreadable (" + std::string(e.what()) + "); delete that method's folder to rerun it");
  } catch (const InputError& e) {
    throw InputError(origin + ": " + e.what() + "; delete that method's folder to rerun it");
  }
}

StreamMetrics stream_metrics(const std::vector<double>& scratch, const std::vector<std::vector<double>>& R) {
  StreamMetrics m;
  const int64_t P = int64_t(R.size());
  if (P == 0) return {NAN, NAN, NAN, NAN};
  const std::vector<double>& last = R[P - 1];
  m.final_loss = 0.0;
  for (double x : last) m.final_loss += x / double(last.size());
  m.forward_transfer = scratch.size() == last.size() ? 0.0 : NAN;
  for (int64_t j = 0; j < P && !std::isnan(m.forward_transfer); ++j) m.forward_transfer += (scratch[j] - R[j][j]) / double(P);
  if (P < 2) {
    m.forgetting = m.backward_transfer = NAN;
    return m;
  }
  m.forgetting = m.backward_transfer = 0.0;
  for (int64_t j = 0; j + 1 < P; ++j) {
    double best = R[0][j];
    for (int64_t i = 1; i + 1 < P; ++i) best = std::min(best, R[i][j]);
    m.forgetting += (last[j] - best) / double(P - 1);
    m.backward_transfer += (R[j][j] - last[j]) / double(P - 1);
  }
  return m;
}

StreamMetrics stream_metrics(const MethodRecord& r) { return stream_metrics(r.scratch_loss, r.loss); }

}  // namespace peer
