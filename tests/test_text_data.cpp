// Text data (core/data/): the byte tokenizer and the text dataset's splits and batches.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/data/text_dataset.h"
#include "core/data/tokenizer.h"
#include "core/rng.h"

using namespace peer;

// ---- Tokenizer ------------------------------------------------------------------------------

TEST_CASE("Tokenizer: sorted byte vocabulary and round trip", "[tokenizer]") {
  const std::string text = "hello, world\nThe end.";
  Tokenizer tok = Tokenizer::from_text(text);
  CHECK(tok.symbols() == std::string("\n ,.Tdehlnorw"));
  CHECK(tok.vocab_size() == 13);
  std::vector<int32_t> ids = tok.encode(text);
  REQUIRE(ids.size() == text.size());
  for (int32_t id : ids) CHECK((id >= 0 && id < tok.vocab_size()));
  CHECK(ids[0] == 7);  // 'h' is the 8th symbol
  CHECK(tok.decode(ids) == text);
  Tokenizer again = Tokenizer::from_symbols(tok.symbols());
  CHECK(again.encode(text) == ids);
  CHECK(tok.contains('h'));
  CHECK_FALSE(tok.contains('z'));
  CHECK(tok.encode("").empty());
}

TEST_CASE("Tokenizer: a byte outside the vocabulary is an InputError naming its position", "[tokenizer]") {
  Tokenizer tok = Tokenizer::from_text("abc");
  CHECK_THROWS_AS(tok.encode("abzc"), InputError);
  CHECK_THROWS_WITH(tok.encode("abzc"), Catch::Contains("position 2"));
}

TEST_CASE("Tokenizer: the unknown byte is named in hex", "[tokenizer]") {
  // 'z' is 0x7a.
  Tokenizer tok = Tokenizer::from_text("abc");
  CHECK_THROWS_WITH(tok.encode("abzc"), Catch::Contains("0x7a"));
}

// ---- TextDataset ----------------------------------------------------------------------------

TEST_CASE("TextDataset: split sizes", "[dataset]") {
  std::vector<int32_t> tokens(1000);
  for (int32_t i = 0; i < 1000; ++i) tokens[i] = i;
  TextDataset ds(tokens, 0.25);
  REQUIRE(ds.tokens(Split::Train).size() == 750);
  REQUIRE(ds.tokens(Split::Val).size() == 250);
  CHECK(ds.tokens(Split::Train).front() == 0);
  CHECK(ds.tokens(Split::Train).back() == 749);  // the first part trains
  CHECK(ds.tokens(Split::Val).front() == 750);
  CHECK(ds.tokens(Split::Val).back() == 999);

  TextDataset tenth(std::vector<int32_t>(100, 1), 0.1);
  CHECK(tenth.tokens(Split::Train).size() == 90);
  CHECK(tenth.tokens(Split::Val).size() == 10);
}

TEST_CASE("TextDataset: batches are deterministic, targets are inputs shifted by one", "[dataset]") {
  std::vector<int32_t> tokens(1000);
  for (int32_t i = 0; i < 1000; ++i) tokens[i] = i;  // token value = position
  TextDataset ds(tokens, 0.2);
  const int64_t B = 4, T = 16;
  std::vector<int32_t> x, y, x2, y2, x3, y3;
  ds.batch(Split::Train, B, T, 1337, kStreamData, 5, x, y);
  REQUIRE(x.size() == size_t(B * T));
  REQUIRE(y.size() == size_t(B * T));
  ds.batch(Split::Train, B, T, 1337, kStreamData, 5, x2, y2);
  CHECK(x == x2);
  CHECK(y == y2);
  ds.batch(Split::Train, B, T, 1337, kStreamData, 6, x3, y3);
  CHECK(x3 != x);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const int32_t xi = x[b * T + t], yi = y[b * T + t];
      CHECK(yi == xi + 1);                                   // the next token
      if (t + 1 < T) CHECK(x[b * T + t + 1] == xi + 1);       // a contiguous window
      CHECK((xi >= 0 && yi < 800));                          // inside the training split
    }
  }
  // Batch b of draw d is regenerated alone from (seed, stream, d * B + b): B = 1 at draw d*B + b.
  std::vector<int32_t> x1, y1;
  ds.batch(Split::Train, 1, T, 1337, kStreamData, 5 * B + 2, x1, y1);
  CHECK(std::vector<int32_t>(x.begin() + 2 * T, x.begin() + 3 * T) == x1);

  ds.batch(Split::Val, B, T, 1337, kStreamEvalVal, 0, x, y);
  for (int64_t i = 0; i < B * T; ++i) CHECK((x[i] >= 800 && y[i] == x[i] + 1 && y[i] < 1000));
}

TEST_CASE("TextDataset: a split shorter than block_size + 1 is an InputError", "[dataset]") {
  TextDataset ds(std::vector<int32_t>(100, 0), 0.1);  // val: 10 tokens
  std::vector<int32_t> x, y;
  CHECK_THROWS_AS(ds.batch(Split::Val, 1, 10, 1, kStreamEvalVal, 0, x, y), InputError);
  CHECK_NOTHROW(ds.batch(Split::Val, 1, 9, 1, kStreamEvalVal, 0, x, y));
}
