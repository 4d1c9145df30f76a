#include "core/io/safetensors.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checksum.h"

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
struct Header {
  json tensors;       // name -> {dtype, shape, data_offsets}
  Metadata metadata;  // __metadata__
  uint64_t data_start = 0, data_size = 0;
};

InputError bad(const std::string& path, const std::string& why) {
  return InputError("checkpoint '" + path + "': " + why);
}

Header read_header(std::ifstream& in, const std::string& path) {
  if (!in) throw InputError("cannot read checkpoint '" + path + "'");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  unsigned char len[8];
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(len), 8)) throw bad(path, "file too short");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  if (n > file_size - 8) throw bad(path, "header length beyond end of file");
  std::string text(n, '\0');
  in.read(text.data(), std::streamsize(n));
  Header h;
  try {
    h.tensors = json::parse(text);
    if (!h.tensors.is_object()) throw bad(path, "header is not a JSON object");
    if (h.tensors.contains("__metadata__")) {
      for (auto& [k, v] : h.tensors["__metadata__"].items()) h.metadata[k] = v.get<std::string>();
      h.tensors.erase("__metadata__");
    }
  } catch (const json::exception& e) {
    throw bad(path, std::string("malformed header: ") + e.what());
  }
  h.data_start = 8 + n;
  h.data_size = file_size - 8 - n;
  return h;
}
}  // namespace

Metadata read_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return read_header(in, path).metadata;
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Header h = read_header(in, path);
  SafetensorsFile out;
  out.metadata = h.metadata;
  try {
    json checksums = out.metadata.count("peer.checksums") ? json::parse(out.metadata["peer.checksums"]) : json::object();
    for (auto& [name, info] : h.tensors.items()) {
      if (info.at("dtype").get<std::string>() != "F32") throw bad(path, "tensor '" + name + "' is not F32");
      std::vector<int64_t> shape = info.at("shape").get<std::vector<int64_t>>();
      uint64_t begin = info.at("data_offsets").at(0), end = info.at("data_offsets").at(1);
      uint64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 0 || (d > 0 && numel > h.data_size / uint64_t(d))) throw bad(path, "tensor '" + name + "' has a bad shape");
        numel *= uint64_t(d);
      }
      if (end < begin || end > h.data_size || end - begin != numel * sizeof(float))
        throw bad(path, "tensor '" + name + "' has offsets outside the file or not matching its shape");
      Tensor t(shape);
      in.seekg(std::streamoff(h.data_start + begin));
      if (!in.read(reinterpret_cast<char*>(t.data()), std::streamsize(end - begin)))
        throw bad(path, "short read of tensor '" + name + "'");
      if (checksums.contains(name) && checksums[name].get<std::string>() != hex32(crc32(t.data(), end - begin)))
        throw bad(path, "checksum mismatch in tensor '" + name + "' (file corrupted)");
      out.tensors.emplace(name, std::move(t));
    }
    for (auto& [name, _] : checksums.items())
      if (!out.tensors.count(name)) throw bad(path, "tensor '" + name + "' listed in checksums is missing");
  } catch (const json::exception& e) {
    throw bad(path, std::string("malformed header: ") + e.what());
  }
  return out;
}

}  // namespace peer
