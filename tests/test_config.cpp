// Run configuration (TOML schema, defaults, --set overrides, validation) and Brown detagging.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "experiments/run/config.h"
#include "experiments/run/corpus.h"
#include "tests/experiment_text.h"

using namespace peer;

namespace {

// Every field of two configs is equal (Config has no operator==); fields added after this test
// was written are compared through their TOML text.
void check_equal(const Config& a, const Config& b) {
  CHECK(a.model.n_embd == b.model.n_embd);
  CHECK(a.model.n_head == b.model.n_head);
  CHECK(a.model.n_layer == b.model.n_layer);
  CHECK(a.model.block_size == b.model.block_size);
  CHECK(a.model.dropout == b.model.dropout);
  CHECK(a.model.ffn == b.model.ffn);
  CHECK(a.model.ffn_every == b.model.ffn_every);
  CHECK(a.model.d_ff == b.model.d_ff);
  CHECK(a.model.activation == b.model.activation);
  CHECK(a.model.init == b.model.init);
  CHECK(a.train.steps == b.train.steps);
  CHECK(a.train.tokens == b.train.tokens);
  CHECK(a.train.batch_size == b.train.batch_size);
  CHECK(a.train.lr == b.train.lr);
  CHECK(a.train.min_lr_ratio == b.train.min_lr_ratio);
  CHECK(a.train.weight_decay == b.train.weight_decay);
  CHECK(a.train.warmup_steps == b.train.warmup_steps);
  CHECK(a.train.grad_clip == b.train.grad_clip);
  CHECK(a.train.eval_every == b.train.eval_every);
  CHECK(a.train.eval_batches == b.train.eval_batches);
  CHECK(a.train.log_every == b.train.log_every);
  CHECK(a.train.sample_tokens == b.train.sample_tokens);
  CHECK(a.train.seed == b.train.seed);
  CHECK(a.train.threads == b.train.threads);
  CHECK(a.train.device == b.train.device);
  CHECK(a.data.source == b.data.source);
  CHECK(a.data.files == b.data.files);
  CHECK(a.data.genres == b.data.genres);
  CHECK(a.data.dir == b.data.dir);
  CHECK(a.data.val_fraction == b.data.val_fraction);
  CHECK(to_toml(a) == to_toml(b));  // and any section added later
}

// The InputError message of parse_config(text, "test.toml", sets); fails the test if none is thrown.
std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    parse_config(text, "test.toml", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected an InputError for: " << text);
  return "";
}

}  // namespace

TEST_CASE("parse_config: an empty file gives the documented defaults", "[config]") {
  const Config c = parse_config("", "test.toml");
  Config defaults;
  resolve(defaults);
  check_equal(c, defaults);
  CHECK(c.model.n_embd == 128);
  CHECK(c.model.n_head == 8);
  CHECK(c.model.n_layer == 8);
  CHECK(c.model.block_size == 32);
  CHECK(c.model.dropout == 0.1);
  CHECK(c.model.ffn == "dense");
  CHECK(c.model.activation == "relu");
  CHECK(c.train.steps == 3000);
  CHECK(c.train.lr == 1e-3);
  CHECK(c.data.source == "brown");
  CHECK(c.d_ff() == 4 * 128);
  CHECK(c.total_steps() == 3000);
  // Empty sections are fine too.
  check_equal(parse_config("[model]\n[train]\n[data]\n", "test.toml"), defaults);
}

TEST_CASE("parse_config: derived values are resolved, after the overrides", "[config]") {
  const Config c = parse_config("", "test.toml");
  CHECK(c.model.d_ff == 4 * 128);
  CHECK(c.moe.d_expert == 4 * 128);
  CHECK(c.peer.n1 == 128);
  CHECK(c.peer.n2 == 128);
  CHECK(c.peer.key_init_std == 0.125);                        // (128 / 2)^-0.5
  CHECK(c.peer.expert_init_std == double(1.0f / std::sqrt(128.0f)));  // in float, as PeerLayer computes it
  CHECK(c.train.steps == 3000);

  const Config wide = parse_config("[model]\nn_embd = 64\nn_head = 4\n", "test.toml", {"model.n_embd=256"});
  CHECK(wide.model.d_ff == 4 * 256);
  CHECK(wide.moe.d_expert == 4 * 256);
  CHECK(wide.peer.expert_init_std == double(1.0f / std::sqrt(256.0f)));
  const Config given = parse_config("[model]\nd_ff = 300\n[moe]\nd_expert = 30\n", "test.toml", {"model.n_embd=256"});
  CHECK(given.model.d_ff == 300);
  CHECK(given.moe.d_expert == 30);
  CHECK(parse_config("[model]\nd_ff = 300\n", "test.toml").moe.d_expert == 300);

  const Config peer = parse_config("[peer]\nnum_experts = 64\nd_key = 8\ntop_k = 4\n", "test.toml");
  CHECK(peer.peer.n1 == 8);
  CHECK(peer.peer.n2 == 8);
  CHECK(peer.peer.key_init_std == 0.5);
  const Config sides = parse_config("[peer]\nnum_experts = 32\nn1 = 4\nn2 = 8\ntop_k = 4\nkey_init_std = 0.02\n", "test.toml");
  CHECK(sides.peer.n1 == 4);
  CHECK(sides.peer.n2 == 8);
  CHECK(sides.peer.key_init_std == 0.02);

  // train.tokens decides train.steps: ceil(10000 / (16 * 32)) = 20.
  const Config tokens = parse_config("[train]\ntokens = 10000\n", "test.toml");
  CHECK(tokens.train.steps == 20);
  CHECK(tokens.train.tokens == 10000);
  CHECK(tokens.total_steps() == 20);
}

TEST_CASE("parse_config: a config.toml with 0 = derived (older run folders) resolves the same way", "[config]") {
  const std::string old_style = "[model]\nd_ff = 0\n[moe]\nd_expert = 0\n[peer]\nn1 = 0\nn2 = 0\n"
                                "key_init_std = 0.0\nexpert_init_std = 0.0\n";
  check_equal(parse_config(old_style, "config.toml"), parse_config("", "test.toml"));
  // A resolved config resolves to itself.
  const Config c = parse_config("", "test.toml", {"model.ffn=peer", "peer.num_experts=256", "train.tokens=5000"});
  check_equal(parse_config(to_toml(c), "resolved.toml"), c);
}

TEST_CASE("parse_config: values from the file", "[config]") {
  const Config c = parse_config(R"(
[model]
n_embd = 64
n_head = 4
dropout = 0          # an integer is accepted for a float key
activation = "gelu"
d_ff = 100

[train]
lr = 3e-4
tokens = 10000
batch_size = 8

[data]
source = "files"
files = ["a.txt", "dir/"]
)",
                                "test.toml");
  CHECK(c.model.n_embd == 64);
  CHECK(c.model.n_head == 4);
  CHECK(c.model.dropout == 0.0);
  CHECK(c.model.activation == "gelu");
  CHECK(c.d_ff() == 100);
  CHECK(c.train.lr == 3e-4);
  CHECK(c.total_steps() == (10000 + 8 * 32 - 1) / (8 * 32));  // ceil(tokens / (batch * block))
  CHECK(c.data.files == std::vector<std::string>{"a.txt", "dir/"});
}

TEST_CASE("parse_config: unknown keys are InputErrors naming the key", "[config]") {
  CHECK_THAT(error_of("[model]\nn_embdd = 64\n"), Catch::Contains("model.n_embdd"));
  CHECK_THAT(error_of("[modle]\nn_embd = 64\n"), Catch::Contains("modle.n_embd"));
  CHECK_THAT(error_of("", {"train.stepz=5"}), Catch::Contains("train.stepz"));
  CHECK_THAT(error_of("n_embd = 64\n"), Catch::Contains("n_embd"));  // outside any section
}

TEST_CASE("parse_config: wrong types are InputErrors naming the key", "[config]") {
  CHECK_THAT(error_of("[model]\nn_embd = \"big\"\n"), Catch::Contains("model.n_embd"));
  CHECK_THAT(error_of("[model]\nn_embd = 64.5\n"), Catch::Contains("model.n_embd"));
  CHECK_THAT(error_of("[model]\nactivation = 3\n"), Catch::Contains("model.activation"));
  CHECK_THAT(error_of("[train]\nlr = \"fast\"\n"), Catch::Contains("train.lr"));
  CHECK_THAT(error_of("[data]\nfiles = \"a.txt\"\n"), Catch::Contains("data.files"));
  CHECK_THAT(error_of("[data]\nfiles = [1, 2]\n"), Catch::Contains("data.files"));
  CHECK_THAT(error_of("", {"model.n_embd=big"}), Catch::Contains("model.n_embd"));  // bare word: a string
}

TEST_CASE("parse_config: impossible values are InputErrors naming the key", "[config]") {
  CHECK_THAT(error_of("[model]\nn_embd = 100\nn_head = 8\n"), Catch::Contains("model.n_embd"));
  CHECK_THAT(error_of("[model]\nblock_size = 0\n"), Catch::Contains("model.block_size"));
  CHECK_THAT(error_of("[model]\ndropout = 1.0\n"), Catch::Contains("model.dropout"));
  CHECK_THAT(error_of("[model]\nactivation = \"tanh\"\n"), Catch::Contains("model.activation"));
  CHECK_THAT(error_of("[model]\nffn = \"sparse\"\n"), Catch::Contains("model.ffn"));
  CHECK_THAT(error_of("[train]\nsteps = 0\n"), Catch::Contains("train.steps"));
  CHECK_THAT(error_of("[data]\nval_fraction = 0\n"), Catch::Contains("data.val_fraction"));
  CHECK_THAT(error_of("[data]\nsource = \"files\"\n"), Catch::Contains("data.files"));
  CHECK_THAT(error_of("[model]\nn_embd = 64\n", {"model.n_head=6"}), Catch::Contains("model.n_embd"));
}

TEST_CASE("parse_config: TOML syntax errors are InputErrors naming the origin", "[config]") {
  CHECK_THAT(error_of("[model\nn_embd = 64\n"), Catch::Contains("test.toml"));
  CHECK_THAT(error_of("[model]\nn_embd = \n"), Catch::Contains("test.toml"));
}

TEST_CASE("parse_config: --set overrides", "[config]") {
  const std::string file = "[train]\nsteps = 100\n[model]\nactivation = \"gelu\"\n";
  const Config c = parse_config(file, "test.toml",
                                {"train.steps=5", "model.ffn=dense", "model.activation=relu", "train.lr=2e-3",
                                 "data.genres=[\"ca\", \"cb\"]", "model.dropout=0"});
  CHECK(c.train.steps == 5);            // overrides the file
  CHECK(c.model.ffn == "dense");        // bare word taken as a string
  CHECK(c.model.activation == "relu");  // bare word overriding a file value
  CHECK(c.train.lr == 2e-3);
  CHECK(c.data.genres == std::vector<std::string>{"ca", "cb"});
  CHECK(c.model.dropout == 0.0);
  CHECK(parse_config("", "test.toml", {"train.device=\"cuda\""}).train.device == "cuda");  // quoted string
  CHECK(parse_config("", "test.toml", {"train.steps=1", "train.steps=7"}).train.steps == 7);  // last wins
  CHECK_THAT(error_of("", {"train.steps"}), Catch::Contains("train.steps"));  // no '='
  CHECK_THROWS_AS(parse_config("", "test.toml", {"=5"}), InputError);
}

TEST_CASE("to_toml: the resolved config re-parses to an equal config", "[config]") {
  SECTION("defaults") {
    const Config c = parse_config("", "test.toml");
    check_equal(parse_config(to_toml(c), "resolved.toml"), c);
  }
  SECTION("every kind of value changed") {
    const Config c = parse_config(R"(
[model]
n_embd = 48
n_head = 6
n_layer = 3
block_size = 17
dropout = 0.125
ffn_every = 2
d_ff = 200
activation = "gelu"
init = "xavier"
[train]
steps = 12
tokens = 123457
batch_size = 3
lr = 0.00031
min_lr_ratio = 0.05
weight_decay = 0.0
warmup_steps = 0
grad_clip = 0.5
eval_every = 7
eval_batches = 2
log_every = 3
sample_tokens = 0
seed = 9007199254740993
threads = 1
device = "cuda"
[data]
source = "files"
files = ["x.txt", "with \"quote\" and \\ backslash.txt"]
genres = ["cr"]
dir = "/tmp/brown data"
val_fraction = 0.3333333333333333
)",
                                  "test.toml");
    CHECK(c.train.seed == 9007199254740993);  // > 2^53: must stay an integer
    const std::string text = to_toml(c);
    INFO(text);
    const Config back = parse_config(text, "resolved.toml");
    check_equal(back, c);
    CHECK(to_toml(back) == text);
  }
  SECTION("every key is written") {
    const std::string text = to_toml(Config{});
    for (const std::string& key : config_keys()) {
      CAPTURE(key);
      const std::string name = key.substr(key.find('.') + 1);
      CHECK(text.find(name + " = ") != std::string::npos);
    }
    CHECK(config_keys().front() == "model.n_embd");
  }
}

TEST_CASE("to_toml: floats in the shortest form that reads back as the same double", "[config]") {
  const std::string text = to_toml(Config{});
  CHECK_THAT(text, Catch::Contains("dropout = 0.1\n"));
  CHECK_THAT(text, Catch::Contains("lr = 0.001\n"));
  CHECK_THAT(text, Catch::Contains("grad_clip = 1.0\n"));  // a whole number stays a float
  CHECK_THAT(text, !Catch::Contains("0000000"));
  for (double v : {0.1 + 0.2, 1e-300, 5e-324, 1e22, 2.0, 123456789012345678e3, 0.3333333333333333, 1e-7}) {
    CAPTURE(v);
    Config c;
    c.moe.load_balance_coef = v;
    c.train.weight_decay = v;
    c.train.lr = v;
    const Config back = parse_config(to_toml(c), "resolved.toml");
    CHECK(back.moe.load_balance_coef == v);
    CHECK(back.train.weight_decay == v);
    CHECK(back.train.lr == v);
  }
}

TEST_CASE("experiment: a variant re-derives what its override changes, keeps what the base gave", "[config]") {
  const std::string head = "[experiment]\nkind = \"sweep\"\nsteps = 5\n[base.model]\nn_embd = 32\nn_head = 2\n";
  const Experiment derived = parse_text(head + "[variants.wide]\nmodel.n_embd = 64\n[variants.same]\n");
  CHECK(derived.base.model.d_ff == 4 * 32);
  CHECK(derived.jobs[0].config.model.d_ff == 4 * 64);
  CHECK(derived.jobs[0].config.moe.d_expert == 4 * 64);
  CHECK(derived.jobs[1].config.model.d_ff == 4 * 32);
  const Experiment given = parse_text(head + "d_ff = 100\n[variants.wide]\nmodel.n_embd = 64\n");
  CHECK(given.jobs[0].config.model.d_ff == 100);
}

// ---- Brown detagging ------------------------------------------------------------------------

TEST_CASE("detag_brown: tags removed, quotes and punctuation spacing, paragraphs", "[corpus]") {
  // Expected output checked against /work/shared/ref/brown_detag.py (detag_file).
  const std::string tagged =
      "\n\n"
      "\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd ``/`` an/at investigation/nn ''/'' "
      "of/in 1/2/cd (/( it/pps )/) ,/, no/at evidence/nn ./.\n"
      "\tIt/pps cost/vbd $/nns 5/cd --/-- or/cc [/( so/rb ]/) ;/. really/rb !/.\n"
      "\n\n   \n"
      "\tBut/cc the/at dog/nn 's/pos bone/nn '/' was/bedz {/( gone/vbn }/) ?/.\n"
      "bare\ta/at  :/: b/nn\n"
      "\n";
  const std::string expected =
      "The Fulton County Grand Jury said \"an investigation\" of 1/2 (it), no evidence.\n"
      "It cost $ 5 -- or [so]; really!\n"
      "\n"
      "But the dog 's bone' was {gone}?\n"
      "bare a: b";
  CHECK(detag_brown(tagged) == expected);
}

TEST_CASE("detag_brown: small cases", "[corpus]") {
  CHECK(detag_brown("") == "");
  CHECK(detag_brown("\n\n  \n") == "");
  CHECK(detag_brown("\tHello/uh ./.") == "Hello.");  // no final newline needed
  CHECK(detag_brown("a/at\nb/nn\n") == "a\nb");
  CHECK(detag_brown("a/at\n\nb/nn\n") == "a\n\nb");
  CHECK(detag_brown("a/at\n\n\n\nb/nn\n") == "a\n\nb");  // several blank lines: one break
  CHECK(detag_brown("``/`` Hi/uh ''/''") == "\"Hi\"");
}

TEST_CASE("brown_genres: the 15 genre codes in corpus order", "[corpus]") {
  const auto& g = brown_genres();
  REQUIRE(g.size() == 15);
  CHECK(g.front() == "ca");
  CHECK(g.back() == "cr");
  CHECK(std::is_sorted(g.begin(), g.end()));
}
