#pragma once

#include <map>
#include <string>

#include "libstream/checkpoint/storage.hpp"
#include "libstream/job_graph.hpp"
#include "libstream/operator.hpp"

namespace libstream {

/// An operator's state in a checkpoint on disk, as operator_restore hands
/// it to the operator: key-group sections are read from the data files
/// (each file read and checked once) of whichever old subtask owned the
/// group.
class checkpoint_restore final : public operator_restore {
public:
  checkpoint_restore(std::string dir, const operator_snapshot& op)
      : dir_(std::move(dir)), op_(&op) {}

  int old_parallelism() const override { return op_->parallelism; }
  std::string key_group_section(int key_group) const override;
  std::string source_position(int index) const override;
  std::string operator_state(int index) const override;

private:
  std::string dir_;
  const operator_snapshot* op_;
  mutable std::map<std::string, std::string> files_;
};

/// Checks that a job can start from `cp`: every operator with state in it
/// has an operator of the same uid in `g` (unless `allow_non_restored`),
/// with the same max parallelism (the number of key groups). Throws
/// checkpoint_error saying what to change.
void check_restore(const checkpoint_ref& cp, const job_graph& g,
                   bool allow_non_restored);

} // namespace libstream
