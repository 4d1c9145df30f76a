// Peak resident memory of the process, so that each run of a sweep can report its own.
#pragma once

namespace peer {

// Peak resident memory (MB) since the last reset_peak_rss() (Linux; else the process's peak).
void reset_peak_rss();
double peak_rss_mb();

}  // namespace peer
