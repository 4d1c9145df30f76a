// Claims on job folders, so that several `peer run --shard` processes (on one machine or on many
// sharing a filesystem) never run the same job twice at once.
//
// The claim of job folder DIR is the file DIR.claim (beside the folder, so the run folder itself
// stays a plain run folder), created with O_CREAT | O_EXCL: of processes racing for it exactly
// one creates it. It holds "HOST PID" of its holder, and is removed when the job ends (finished,
// failed or interrupted). A claim whose holder was killed stays: a process on the same HOST
// takes it over once PID is gone; a claim from another host is never taken over (this process
// cannot see that host's processes): delete DIR.claim by hand once its holder is known gone.
#pragma once

#include <string>

namespace peer {

class JobClaim {
 public:
  explicit JobClaim(std::string dir);  // tries to claim DIR (creating its parent folder)
  ~JobClaim();                         // releases a held claim
  JobClaim(const JobClaim&) = delete;
  JobClaim& operator=(const JobClaim&) = delete;

  bool held() const { return held_; }
  const std::string& holder() const { return holder_; }  // "HOST PID": this process's, or the other holder's

 private:
  std::string path_, holder_;
  bool held_ = false;
};

// "HOST PID" of this process.
std::string claim_id();

}  // namespace peer
