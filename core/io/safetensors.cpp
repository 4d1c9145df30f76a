#include "core/io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "core/io/input_file.h"

namespace peer {

using nlohmann::json;

namespace {
std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}
}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      const Metadata& metadata) {
  json header = json::object(), checksums = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    uint64_t bytes = uint64_t(t->numel()) * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t->shape()}, {"data_offsets", {offset, offset + bytes}}};
    checksums[name] = hex32(crc32(t->data(), bytes));
    offset += bytes;
  }
  json meta = json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  meta["peer.checksums"] = checksums.dump();
  header["__metadata__"] = meta;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));

  AtomicFile f(path);
  f.write(len, 8);
  f.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) f.write(t->data(), size_t(t->numel()) * sizeof(float));
  f.commit();
}

namespace {
// The safetensors project's own reader refuses larger headers (MAX_HEADER_SIZE): a length field
// must not make us allocate gigabytes before anything is checked.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Where the bytes come from: a file or a buffer, read by offset.
struct Source {
  std::string path;  // for messages
  uint64_t size = 0;
  std::function<bool(uint64_t offset, void* dst, uint64_t n)> read;  // false: short read
};

struct Header {
  json tensors;       // name -> {dtype, shape, data_offsets}
  Metadata metadata;  // __metadata__
  uint64_t data_start = 0, data_size = 0;
};

InputError bad(const std::string& path, const std::string& why) {
  return InputError("checkpoint '" + path + "': " + why);
}

Header read_header(const Source& src) {
  unsigned char len[8];
  if (src.size < 8 || !src.read(0, len, 8)) throw bad(src.path, "file too short");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  if (n > src.size - 8) throw bad(src.path, "header length " + std::to_string(n) + " beyond the end of the file");
  if (n > kMaxHeaderBytes)
    throw bad(src.path, "header length " + std::to_string(n) + " over the limit of " + std::to_string(kMaxHeaderBytes));
  std::string text(n, '\0');
  if (!src.read(8, text.data(), n)) throw bad(src.path, "short read of the header");
  Header h;
  try {
    h.tensors = json::parse(text);
    if (!h.tensors.is_object()) throw bad(src.path, "header is not a JSON object");
    if (h.tensors.contains("__metadata__")) {
      const json& meta = h.tensors["__metadata__"];
      if (!meta.is_object()) throw bad(src.path, "__metadata__ is not a JSON object");
      for (auto& [k, v] : meta.items()) h.metadata[k] = v.get<std::string>();
      h.tensors.erase("__metadata__");
    }
  } catch (const json::exception& e) {
    throw bad(src.path, std::string("malformed header: ") + e.what());
  }
  h.data_start = 8 + n;
  h.data_size = src.size - 8 - n;
  return h;
}

// One tensor's entry of the header, checked against the data section before any allocation.
struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry read_entry(const std::string& path, const std::string& name, const json& info, uint64_t data_size) {
  auto fail = [&](const std::string& why) { return bad(path, "tensor '" + name + "' " + why); };
  if (!info.is_object()) throw fail("is not a JSON object");
  if (info.at("dtype") != "F32") throw fail("is not F32");
  Entry e{name, {}, 0, 0};
  const json& shape = info.at("shape");
  const json& offsets = info.at("data_offsets");
  if (!shape.is_array()) throw fail("has a shape that is not an array");
  uint64_t numel = 1;
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) throw fail("has a bad shape (dimensions must be integers >= 0)");
    const uint64_t v = d.get<uint64_t>();
    if (v > uint64_t(INT64_MAX) || (v > 0 && numel > data_size / v)) throw fail("has a shape larger than the file");
    numel *= v;  // <= data_size: 0 stays 0 once a dimension is 0
    e.shape.push_back(int64_t(v));
  }
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw fail("has data_offsets that are not two integers >= 0");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin || e.end > data_size || e.end - e.begin != numel * sizeof(float))
    throw fail("has offsets outside the file or not matching its shape");
  return e;
}

// Every entry checked, none overlapping another (so their sizes sum to at most the file's), and
// every tensor with its checksum: all before the first tensor is allocated.
std::vector<Entry> read_entries(const std::string& path, const Header& h, const json& checksums) {
  std::vector<Entry> entries;
  for (auto& [name, info] : h.tensors.items()) {
    entries.push_back(read_entry(path, name, info, h.data_size));
    if (!checksums.contains(name)) throw bad(path, "tensor '" + name + "' has no checksum in peer.checksums");
  }
  for (auto& [name, _] : checksums.items())
    if (!h.tensors.contains(name)) throw bad(path, "tensor '" + name + "' listed in checksums is missing");
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw bad(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  double bytes = 0;
  for (const Entry& e : entries) bytes += double(e.end - e.begin);
  require_memory(bytes, "checkpoint '" + path + "'");
  return entries;
}

SafetensorsFile load(const Source& src) {
  Header h = read_header(src);
  SafetensorsFile out;
  out.metadata = h.metadata;
  try {
    if (!out.metadata.count("peer.checksums"))
      throw bad(src.path, "no tensor checksums (metadata peer.checksums): not written by peer, or stripped");
    const json checksums = json::parse(out.metadata["peer.checksums"]);
    if (!checksums.is_object()) throw bad(src.path, "peer.checksums is not a JSON object");
    for (const Entry& e : read_entries(src.path, h, checksums)) {
      Tensor t(e.shape);
      if (!src.read(h.data_start + e.begin, t.data(), e.end - e.begin))
        throw bad(src.path, "short read of tensor '" + e.name + "'");
      if (checksums[e.name] != hex32(crc32(t.data(), e.end - e.begin)))
        throw bad(src.path, "checksum mismatch in tensor '" + e.name + "' (file corrupted)");
      out.tensors.emplace(e.name, std::move(t));
    }
  } catch (const json::exception& e) {
    throw bad(src.path, std::string("malformed header: ") + e.what());
  }
  return out;
}

// A file source; `in` must outlive it.
Source file_source(const std::string& path, std::ifstream& in) {
  const uint64_t size = regular_file_size(path, "checkpoint");  // before opening: a FIFO would block
  in.open(path, std::ios::binary);
  if (!in) throw InputError("cannot read checkpoint '" + path + "'");
  return {path, size, [&in](uint64_t offset, void* dst, uint64_t n) {
            in.clear();
            in.seekg(std::streamoff(offset));
            return bool(in.read(static_cast<char*>(dst), std::streamsize(n)));
          }};
}
}  // namespace

Metadata read_safetensors_metadata(const std::string& path) {
  std::ifstream in;
  return read_header(file_source(path, in)).metadata;
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in;
  return load(file_source(path, in));
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  return load({name, bytes.size(), [bytes](uint64_t offset, void* dst, uint64_t n) {
                 if (offset > bytes.size() || n > bytes.size() - offset) return false;
                 std::memcpy(dst, bytes.data() + offset, n);
                 return true;
               }});
}

}  // namespace peer
