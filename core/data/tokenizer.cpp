#include "core/data/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace peer {

Tokenizer Tokenizer::from_text(const std::string& text) {
  bool seen[256] = {};
  for (unsigned char c : text) seen[c] = true;
  std::string symbols;
  for (int c = 0; c < 256; ++c)
    if (seen[c]) symbols.push_back(char(c));
  return from_symbols(symbols);
}

Tokenizer Tokenizer::from_symbols(const std::string& symbols) {
  Tokenizer t;
  t.symbols_ = symbols;
  t.build_index();
  return t;
}

void Tokenizer::build_index() {
  std::fill(index_, index_ + 256, -1);
  for (size_t i = 0; i < symbols_.size(); ++i) index_[static_cast<unsigned char>(symbols_[i])] = int32_t(i);
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t id = index_[static_cast<unsigned char>(text[i])];
    if (id < 0)
    {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[i]));
      throw InputError("[tokenizer] byte " + std::string(hex) + " at position " + std::to_string(i) +
                       " is not in the vocabulary");
    }
    ids[i] = id;
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  s.reserve(ids.size());
  for (int32_t id : ids) s.push_back(symbols_.at(size_t(id)));
  return s;
}

}  // namespace peer
