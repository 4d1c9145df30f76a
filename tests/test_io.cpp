// File formats and atomic writes: safetensors (layout, round trip, corruption), AtomicFile, CRC-32.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "core/io/safetensors.h"

using namespace peer;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("peer_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

Tensor filled(std::vector<int64_t> shape, float start) {
  Tensor t(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = start + 0.25f * float(i) * (i % 2 ? -1.0f : 1.0f);
  return t;
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return n;
}

// Writes a small checkpoint and returns its path.
std::string write_sample(const TempDir& dir, const std::string& name = "model.safetensors") {
  Tensor a = filled({2, 3}, 1.0f), b = filled({4}, -3.0f), c = filled({1, 2, 2}, 100.0f);
  std::string path = dir.file(name);
  save_safetensors(path, {{"a", &a}, {"b", &b}, {"c", &c}}, {{"step", "42"}, {"note", "hello \"world\""}});
  return path;
}

}  // namespace

// ---- CRC-32 ---------------------------------------------------------------------------------

TEST_CASE("crc32: standard check value and chaining", "[io][crc32]") {
  const char* check = "123456789";
  CHECK(crc32(check, 9) == 0xCBF43926u);
  CHECK(crc32("", 0) == 0u);
  CHECK(crc32("a", 1) == 0xE8B7BE43u);
  // crc32(b, crc32(a)) == crc32(a + b), for splits at every position (exercises the 4-byte path
  // and the byte tail).
  const std::string s = "The quick brown fox jumps over the lazy dog";
  CHECK(crc32(s.data(), s.size()) == 0x414FA339u);
  for (size_t k = 0; k <= s.size(); ++k) {
    CAPTURE(k);
    CHECK(crc32(s.data() + k, s.size() - k, crc32(s.data(), k)) == 0x414FA339u);
  }
}

TEST_CASE("crc32: zlib gives the checksums earlier checkpoints stored", "[io][crc32]") {
  // 1 MiB of LCG bytes; 0x525477ea is what the hand-written table implementation (before zlib)
  // wrote into checkpoints for them, so those checkpoints still load.
  std::vector<unsigned char> b(size_t(1) << 20);
  uint32_t x = 12345;
  for (unsigned char& c : b) c = (x = x * 1664525u + 1013904223u) >> 24;
  CHECK(crc32(b.data(), b.size()) == 0x525477eau);
}

// ---- safetensors ----------------------------------------------------------------------------

TEST_CASE("safetensors: round trip of shapes, values and metadata", "[io][safetensors]") {
  TempDir dir;
  const std::string path = write_sample(dir);
  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 3);
  const Tensor& a = f.tensors.at("a");
  const Tensor& b = f.tensors.at("b");
  const Tensor& c = f.tensors.at("c");
  CHECK(a.shape() == std::vector<int64_t>{2, 3});
  CHECK(b.shape() == std::vector<int64_t>{4});
  CHECK(c.shape() == std::vector<int64_t>{1, 2, 2});
  Tensor ea = filled({2, 3}, 1.0f), eb = filled({4}, -3.0f), ec = filled({1, 2, 2}, 100.0f);
  for (int64_t i = 0; i < 6; ++i) CHECK(a[i] == ea[i]);  // bit-exact
  for (int64_t i = 0; i < 4; ++i) CHECK(b[i] == eb[i]);
  for (int64_t i = 0; i < 4; ++i) CHECK(c[i] == ec[i]);
  CHECK(f.metadata.at("step") == "42");
  CHECK(f.metadata.at("note") == "hello \"world\"");
  CHECK(f.metadata.count("peer.checksums") == 1);
  CHECK(read_safetensors_metadata(path) == f.metadata);
  // No temporary file is left beside the checkpoint.
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: special float values and an empty tensor survive", "[io][safetensors]") {
  TempDir dir;
  Tensor s({5});
  s[0] = std::numeric_limits<float>::infinity();
  s[1] = -0.0f;
  s[2] = std::numeric_limits<float>::denorm_min();
  s[3] = std::numeric_limits<float>::max();
  s[4] = std::numeric_limits<float>::quiet_NaN();
  Tensor empty({0, 3});
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {{"s", &s}, {"empty", &empty}}, {});
  SafetensorsFile f = load_safetensors(path);
  const Tensor& t = f.tensors.at("s");
  CHECK(std::memcmp(t.data(), s.data(), 5 * sizeof(float)) == 0);  // bit patterns, NaN included
  CHECK(f.tensors.at("empty").shape() == std::vector<int64_t>{0, 3});
}

TEST_CASE("safetensors: the file has the documented layout", "[io][safetensors]") {
  TempDir dir;
  const std::string bytes = slurp(write_sample(dir));
  REQUIRE(bytes.size() >= 8);
  const uint64_t n = header_length(bytes);  // 8-byte little-endian header length
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);  // data starts 8-byte aligned
  const nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  REQUIRE(h.is_object());
  // Tensors in the order written, packed back to back.
  struct Expect {
    const char* name;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  const std::vector<Expect> expect = {{"a", {2, 3}, 0, 24}, {"b", {4}, 24, 40}, {"c", {1, 2, 2}, 40, 56}};
  for (const Expect& e : expect) {
    CAPTURE(e.name);
    REQUIRE(h.contains(e.name));
    CHECK(h[e.name]["dtype"] == "F32");
    CHECK(h[e.name]["shape"].get<std::vector<int64_t>>() == e.shape);
    CHECK(h[e.name]["data_offsets"][0].get<uint64_t>() == e.begin);
    CHECK(h[e.name]["data_offsets"][1].get<uint64_t>() == e.end);
  }
  CHECK(bytes.size() == 8 + n + 56);
  // Raw little-endian float32 data ("b" at offset 24).
  Tensor eb = filled({4}, -3.0f);
  CHECK(std::memcmp(bytes.data() + 8 + n + 24, eb.data(), 16) == 0);
  // Metadata: every value a string; checksums a JSON object name -> CRC-32 hex of the data.
  REQUIRE(h.contains("__metadata__"));
  for (const auto& [k, v] : h["__metadata__"].items()) CHECK(v.is_string());
  CHECK(h["__metadata__"]["step"] == "42");
  const nlohmann::json sums = nlohmann::json::parse(h["__metadata__"]["peer.checksums"].get<std::string>());
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc32(eb.data(), 16));
  CHECK(sums["b"] == hex);
}

TEST_CASE("safetensors: a flipped data byte fails the checksum", "[io][safetensors]") {
  TempDir dir;
  const std::string path = write_sample(dir);
  std::string bytes = slurp(path);
  const uint64_t n = header_length(bytes);
  const size_t pos = GENERATE(size_t(0), size_t(30), size_t(55));  // in a, b and c
  CAPTURE(pos);
  bytes[8 + n + pos] ^= 0x01;
  spit(path, bytes);
  CHECK_THROWS_AS(load_safetensors(path), InputError);
  CHECK_THROWS_WITH(load_safetensors(path), Catch::Contains("checksum"));
  CHECK_THROWS_WITH(load_safetensors(path), Catch::Contains(path));
}

TEST_CASE("safetensors: truncated files are InputErrors", "[io][safetensors]") {
  TempDir dir;
  const std::string path = write_sample(dir);
  const std::string bytes = slurp(path);
  const uint64_t n = header_length(bytes);
  // Short by one byte of data, in the middle of the data, inside the header, inside the length.
  const size_t keep = GENERATE_COPY(bytes.size() - 1, 8 + n + 20, 8 + n / 2, size_t(5), size_t(0));
  CAPTURE(keep);
  spit(path, bytes.substr(0, keep));
  CHECK_THROWS_AS(load_safetensors(path), InputError);
}

TEST_CASE("safetensors: malformed headers are InputErrors", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto with_header = [](const std::string& json, const std::string& data = "") {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(json.size()) >> (8 * i)) & 0xFF);
    return out + json + data;
  };
  SECTION("garbage JSON") { spit(path, with_header("this is not json{")); }
  SECTION("JSON that is not an object") { spit(path, with_header("[1, 2, 3]")); }
  SECTION("header length far beyond the file") {
    std::string b = with_header("{}");
    b[7] = char(0x7f);
    spit(path, b);
  }
  SECTION("random bytes") { spit(path, std::string("\x13\x37garbage garbage garbage", 25)); }
  SECTION("offsets beyond the data") {
    spit(path, with_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "1234"));
  }
  SECTION("offsets not matching the shape") {
    spit(path, with_header(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", "12345678"));
  }
  SECTION("not F32") {
    spit(path, with_header(R"({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", "1234"));
  }
  SECTION("missing field") { spit(path, with_header(R"({"a": {"dtype": "F32", "shape": [1]}})", "1234")); }
  SECTION("non-string metadata") { spit(path, with_header(R"({"__metadata__": {"step": 3}})")); }
  SECTION("a checksummed tensor is missing") {
    spit(path, with_header(R"({"__metadata__": {"peer.checksums": "{\"w\": \"00000000\"}"}})"));
  }
  CHECK_THROWS_AS(load_safetensors(path), InputError);
}

TEST_CASE("safetensors: a missing file is an InputError naming it", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("nope.safetensors");
  CHECK_THROWS_AS(load_safetensors(path), InputError);
  CHECK_THROWS_WITH(load_safetensors(path), Catch::Contains("nope.safetensors"));
  CHECK_THROWS_AS(read_safetensors_metadata(path), InputError);
}

// ---- AtomicFile -----------------------------------------------------------------------------

TEST_CASE("AtomicFile: without commit() the target is untouched and no temp file is left", "[io][atomic]") {
  TempDir dir;
  const std::string target = dir.file("target.txt");
  SECTION("existing target") {
    spit(target, "old contents");
    {
      AtomicFile f(target);
      f.write("new", 3);
      CHECK(slurp(target) == "old contents");  // not visible before commit
    }
    CHECK(slurp(target) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"target.txt"});
  }
  SECTION("no target yet") {
    { AtomicFile f(target); f.write("new", 3); }
    CHECK_FALSE(fs::exists(target));
    CHECK(dir.entries().empty());
  }
  SECTION("an exception between write and commit") {
    spit(target, "old contents");
    try {
      AtomicFile f(target);
      f.write("partial", 7);
      throw std::runtime_error("interrupted");
    } catch (const std::runtime_error&) {
    }
    CHECK(slurp(target) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"target.txt"});
  }
}

TEST_CASE("AtomicFile: commit() replaces the target", "[io][atomic]") {
  TempDir dir;
  const std::string target = dir.file("target.txt");
  spit(target, "old contents that are longer");
  {
    AtomicFile f(target);
    f.write("new ", 4);
    f.write("contents", 8);
    f.commit();
  }
  CHECK(slurp(target) == "new contents");
  CHECK(dir.entries() == std::vector<std::string>{"target.txt"});

  write_file_atomic(target, std::string("bytes\0with nul", 14));
  CHECK(read_file(target) == std::string("bytes\0with nul", 14));
  CHECK(dir.entries() == std::vector<std::string>{"target.txt"});
}

TEST_CASE("read_file: a missing file is an InputError naming it", "[io][atomic]") {
  TempDir dir;
  CHECK_THROWS_AS(read_file(dir.file("missing.txt")), InputError);
  CHECK_THROWS_WITH(read_file(dir.file("missing.txt")), Catch::Contains("missing.txt"));
}

TEST_CASE("append_file: appends, and a full disk throws naming the file", "[io][atomic]") {
  TempDir dir;
  const std::string target = dir.file("log.jsonl");
  append_file(target, "a\n");
  append_file(target, "b\n");
  CHECK(read_file(target) == "a\nb\n");
  // /dev/full accepts the open and fails every write with ENOSPC (at the flush in fclose).
  CHECK_THROWS_WITH(append_file("/dev/full", "row\n"), Catch::Contains("/dev/full") && Catch::Contains("space"));
  CHECK_THROWS_WITH(append_file(dir.file("no/such/folder/x"), "row\n"), Catch::Contains("no/such/folder/x"));
}
