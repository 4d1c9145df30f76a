// The config key reference (`peer config keys`, experiments/README.md) against the parser's schema.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/run/config.h"

using namespace peer;

TEST_CASE("config keys: the printed reference lists exactly the keys the parser accepts", "[config]") {
  std::istringstream text(format_config_keys(false));
  std::string line;
  std::getline(text, line);  // the header
  std::vector<std::string> printed;
  while (std::getline(text, line)) printed.push_back(line.substr(0, line.find(' ')));
  CHECK(printed == config_keys());

  const std::string defaults = to_toml(Config{});
  for (const ConfigKeyDoc& d : config_key_docs()) {
    CAPTURE(d.key);
    CHECK(!d.type.empty());
    CHECK(!d.meaning.empty());
    // The parser takes the key, with the printed default as its value, and that is the default.
    CHECK(to_toml(parse_config("", "test.toml", {d.key + "=" + d.default_value})) ==
          to_toml(parse_config("", "test.toml")));
    CHECK_THAT(defaults, Catch::Contains(d.key.substr(d.key.find('.') + 1) + " = " + d.default_value + "\n"));
  }
}

namespace {
std::string read_readme(const std::string& path) {
  std::ifstream f(path);
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("config keys: experiments/README.md holds the current reference", "[config]") {
  const std::string path = std::string(PEER_SOURCE_DIR) + "/experiments/README.md";
  const std::string readme = read_readme(path);
  const std::string begin = "<!-- config keys: begin -->\n", end = "<!-- config keys: end -->";
  const size_t a = readme.find(begin), b = readme.find(end);
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  INFO(path << "'s key table is out of date: replace the lines between the config-keys markers with the "
               "output of `build/peer config keys --format markdown`");
  CHECK(readme.substr(a + begin.size(), b - a - begin.size()) == format_config_keys(true));
}

TEST_CASE("config keys: the READMEs point nowhere outside the repository", "[config]") {
  // Users get the repository: a link up and out of it, or to the web, would be a dead end.
  for (const char* file : {"/README.md", "/experiments/README.md"}) {
    INFO(file);
    const std::string readme = read_readme(std::string(PEER_SOURCE_DIR) + file);
    CHECK_THAT(readme, !Catch::Contains("../"));
    CHECK_THAT(readme, !Catch::Contains("://"));
    CHECK_THAT(readme, !Catch::Contains("DESIGN.md"));
  }
}
