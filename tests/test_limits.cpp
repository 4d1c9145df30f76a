// Limits checked before allocation (experiments/README.md, "Limits"): inputs that are not
// regular files, sizes against overflow and physical memory, the checkpoint reader's header,
// offsets and checksums, checkpoint metadata, and subprocesses without a shell.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "core/io/input_file.h"
#include "core/io/safetensors.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/config.h"
#include "experiments/run/subprocess.h"

using namespace peer;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("peer_test_limits_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// A safetensors file: the 8-byte length, the JSON header, the data.
std::string safetensors_bytes(const nlohmann::json& header, const std::string& data = "") {
  const std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  return out + text + data;
}

std::string crc_hex(const std::string& data) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc32(data.data(), data.size()));
  return hex;
}

std::string config_error(const std::vector<std::string>& sets) {
  return error_of([&] { parse_config("", "t.toml", sets); });
}
}  // namespace

TEST_CASE("limits: a directory, FIFO or device is refused before it is opened", "[limits]") {
  TempDir dir;
  fs::create_directories(dir.file("d"));
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);  // opening it to read would block
  CHECK_THAT(error_of([&] { read_file(dir.file("d")); }), Catch::Contains("'" + dir.file("d") + "': is a directory"));
  CHECK_THAT(error_of([&] { read_file(dir.file("fifo")); }), Catch::Contains("is a FIFO"));
  CHECK_THAT(error_of([&] { read_file("/dev/null"); }), Catch::Contains("'/dev/null': is a device"));
  CHECK_THAT(error_of([&] { read_file(dir.file("none")); }), Catch::Contains(dir.file("none")));
  CHECK_THAT(error_of([&] { load_safetensors(dir.file("fifo")); }), Catch::Contains("checkpoint"));
  CHECK_THAT(error_of([&] { load_config(dir.file("d")); }), Catch::Contains("is a directory"));
}

TEST_CASE("limits: require_memory compares with physical memory", "[limits]") {
  CHECK(physical_memory_bytes() > (uint64_t(1) << 26));
  CHECK_NOTHROW(require_memory(1e6, "x"));
  CHECK_THAT(error_of([] { require_memory(1e30, "the thing"); }), Catch::Contains("the thing: needs about"));
  CHECK_THAT(error_of([] { require_memory(std::nan(""), "nan"); }), Catch::Contains("nan"));
}

TEST_CASE("limits: the checkpoint reader checks the header before allocating", "[limits][safetensors]") {
  const std::string data(8, '\x01');
  const nlohmann::json tensor = {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}};
  const nlohmann::json meta = {{"peer.checksums", nlohmann::json({{"w", crc_hex(data)}}).dump()}};
  const std::string good = safetensors_bytes({{"w", tensor}, {"__metadata__", meta}}, data);
  CHECK(parse_safetensors(good, "good").tensors.at("w").numel() == 2);

  // Stripped checksums, or one tensor without its checksum.
  CHECK_THAT(error_of([&] { parse_safetensors(safetensors_bytes({{"w", tensor}}, data), "f"); }),
             Catch::Contains("no tensor checksums"));
  const nlohmann::json other = {{"peer.checksums", nlohmann::json({{"v", "0"}}).dump()}};
  CHECK_THAT(error_of([&] { parse_safetensors(safetensors_bytes({{"w", tensor}, {"__metadata__", other}}, data), "f"); }),
             Catch::Contains("'w' has no checksum"));
  // Two tensors over the same bytes (their sizes would sum beyond the file).
  nlohmann::json two = {{"w", tensor}, {"x", tensor}};
  two["__metadata__"] = {{"peer.checksums", nlohmann::json({{"w", crc_hex(data)}, {"x", crc_hex(data)}}).dump()}};
  CHECK_THAT(error_of([&] { parse_safetensors(safetensors_bytes(two, data), "f"); }), Catch::Contains("overlap"));
  // Dimensions that are not integers >= 0 (a float's cast to an integer would be undefined).
  for (const nlohmann::json& shape : {nlohmann::json{1e300}, nlohmann::json{-2}, nlohmann::json{"2"}}) {
    nlohmann::json h = {{"w", tensor}, {"__metadata__", meta}};
    h["w"]["shape"] = shape;
    CHECK_THAT(error_of([&] { parse_safetensors(safetensors_bytes(h, data), "f"); }), Catch::Contains("shape"));
  }
  // A header length beyond the 100 MB limit, in a file that long (sparse, so no disk).
  TempDir dir;
  std::string head(8, '\0');
  head[3] = 0x10;  // 2^27 + ... = 268 MB
  {
    std::ofstream(dir.file("big"), std::ios::binary).write(head.data(), 8);
  }
  fs::resize_file(dir.file("big"), uint64_t(1) << 29);
  CHECK_THAT(error_of([&] { load_safetensors(dir.file("big")); }), Catch::Contains("over the limit"));
}

TEST_CASE("limits: config sizes, infinities and expert counts name their key", "[limits][config]") {
  CHECK_THAT(config_error({"train.tokens=1000", "train.batch_size=4611686018427387904", "model.block_size=4"}),
             Catch::Contains("train.batch_size"));
  CHECK_THAT(config_error({"model.n_embd=2147483648", "model.n_head=1"}), Catch::Contains("model.n_embd"));
  CHECK_THAT(config_error({"train.tokens=9223372036854775807", "train.batch_size=1", "model.block_size=1"}),
             Catch::Contains("train.tokens"));
  CHECK_THAT(config_error({"moe.capacity_factor=inf"}), Catch::Contains("moe.capacity_factor': expected a finite"));
  CHECK_THAT(config_error({"train.lr=nan"}), Catch::Contains("train.lr"));
  CHECK_THAT(config_error({"moe.capacity_factor=1e300"}), Catch::Contains("moe.capacity_factor"));
  CHECK_THAT(config_error({"peer.n1=2", "peer.n2=1073741824", "peer.num_experts=2147483648"}),
             Catch::Contains("peer.num_experts"));
  CHECK_THAT(config_error({"peer.n1=3037000500", "peer.n2=3037000500", "peer.num_experts=16"}), Catch::Contains("peer.n1"));
  CHECK_THAT(config_error({"moe.num_experts=2147483648"}), Catch::Contains("moe.num_experts"));
  CHECK_THAT(config_error({"peer.num_experts=100000000", "peer.top_k=5000"}), Catch::Contains("peer.top_k"));
  CHECK_THAT(config_error({"model.ffn=moe", "model.n_layer=2", "model.ffn_every=3"}), Catch::Contains("model.ffn_every"));
  CHECK_NOTHROW(parse_config("", "t.toml", {"model.ffn=dense", "model.n_layer=2", "model.ffn_every=3"}));
}

TEST_CASE("limits: a run larger than memory is refused naming its largest part", "[limits][config]") {
  // Valid configs (they plan on any machine), but no machine holds them.
  const Config peer = parse_config("", "t.toml", {"model.ffn=peer", "peer.num_experts=2147395600"});
  CHECK_THAT(error_of([&] { require_fits_in_memory(peer); }), Catch::Contains("peer.num_experts = 2147395600"));
  const Config attn = parse_config("", "t.toml", {"model.block_size=2000000000"});
  CHECK_THAT(error_of([&] { require_fits_in_memory(attn); }), Catch::Contains("model.block_size"));
  CHECK_NOTHROW(require_fits_in_memory(parse_config("", "t.toml")));
  CHECK_THAT(error_of([] { check_peer_experts({16, kMaxExperts + 1}, 8, "pools"); }), Catch::Contains("32-bit"));
}

TEST_CASE("limits: checkpoint metadata is checked before a model is built", "[limits][checkpoint]") {
  Metadata meta = {{"peer.format", "peer-checkpoint-1"}, {"peer.config", ""}, {"peer.vocab", "[97, 98]"},
                   {"peer.step", "3"}, {"peer.pools", R"({"blocks.0.ffn": [{"n1": 4, "n2": 4}]})"}};
  const CheckpointInfo info = checkpoint_info(meta, "c.safetensors");
  CHECK(info.step == 3);
  CHECK(info.tokenizer.vocab_size() == 2);
  CHECK(info.pools.at("blocks.0.ffn").size() == 1);
  auto with = [&](const std::string& key, const std::string& value) {
    Metadata m = meta;
    m[key] = value;
    return error_of([&] { checkpoint_info(m, "c.safetensors"); });
  };
  CHECK_THAT(with("peer.pools", R"({"blocks.0.ffn": [{"n1": 100000, "n2": 100000}]})"), Catch::Contains("peer.pools"));
  CHECK_THAT(with("peer.pools", R"({"blocks.0.ffn": [{"n1": 1e300, "n2": 4}]})"), Catch::Contains("peer.pools"));
  CHECK_THAT(with("peer.vocab", "[97, 97]"), Catch::Contains("peer.vocab"));
  CHECK_THAT(with("peer.vocab", "[1e300]"), Catch::Contains("peer.vocab"));
  CHECK_THAT(with("peer.step", "12abc"), Catch::Contains("peer.step"));
  CHECK_THAT(with("peer.frozen", "{\"a\": 1}"), Catch::Contains("peer.frozen"));
}

TEST_CASE("limits: run_program passes arguments without a shell", "[limits]") {
  TempDir dir;
  const std::string name = "x';touch PWNED;'.tgz";
  CHECK(run_program({"touch", name}, {dir.path.string(), "", ""}) == 0);
  CHECK(fs::exists(dir.path / name));
  CHECK_FALSE(fs::exists(dir.path / "PWNED"));
  CHECK(run_program({"test", "a b", "=", "a b"}) == 0);
  CHECK(run_program({"false"}) == 1);
  CHECK(run_program({"no-such-program-peer-test"}) == 127);
}
