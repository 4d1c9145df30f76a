// Byte-level tokenizer whose vocabulary is the set of bytes seen in the training text (sorted),
// so a char-level model of English text has ~80 symbols instead of 256. The vocabulary is saved
// with the model (checkpoint metadata).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace peer {

class Tokenizer {
 public:
  Tokenizer() = default;
  static Tokenizer from_text(const std::string& text);
  static Tokenizer from_symbols(const std::string& symbols);  // as returned by symbols()

  int64_t vocab_size() const { return int64_t(symbols_.size()); }
  const std::string& symbols() const { return symbols_; }
  bool contains(unsigned char c) const { return index_[c] >= 0; }
  // Throws InputError on a byte outside the vocabulary (names it and its position).
  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  std::string symbols_;
  int32_t index_[256];
  void build_index();
};

}  // namespace peer
