#include "libstream/checkpoint/restore.hpp"

namespace libstream {

std::string checkpoint_restore::key_group_section(int key_group) const {
  for (auto& s : op_->subtasks) {
    if (!s.key_groups.contains(key_group) || s.keyed_file.name.empty())
      continue;
    auto i = files_.find(s.keyed_file.name);
    if (i == files_.end())
      i = files_.emplace(s.keyed_file.name, read_data_file(dir_, s.keyed_file))
              .first;
    auto k = static_cast<size_t>(key_group - s.key_groups.first);
    auto first = s.key_group_offsets[k];
    auto last = s.key_group_offsets[k + 1];
    return i->second.substr(first, last - first);
  }
  return {};
}

std::string checkpoint_restore::source_position(int index) const {
  for (auto& s : op_->subtasks)
    if (s.index == index)
      return s.source_position;
  return {};
}

std::string checkpoint_restore::operator_state(int index) const {
  for (auto& s : op_->subtasks)
    if (s.index == index)
      return s.operator_state;
  return {};
}

void check_restore(const checkpoint_ref& cp, const job_graph& g,
                   bool allow_non_restored) {
  for (auto& op : cp.meta.operators) {
    const transformation* match = nullptr;
    int vertex_max = 0;
    for (auto& vx : g.vertices())
      for (auto id : vx.operators)
        if (g.node(id).uid == op.uid) {
          match = &g.node(id);
          vertex_max = vx.max_parallelism;
        }
    // Finished subtasks list every operator of their chain, stateless
    // ones too: those have nothing to lose.
    bool stateless = true;
    for (auto& sub : op.subtasks)
      stateless = stateless && sub.keyed_file.name.empty()
                  && sub.operator_state.empty() && sub.source_position.empty();
    if (match == nullptr) {
      if (allow_non_restored || stateless)
        continue;
      throw checkpoint_error(
          "checkpoint '" + cp.dir + "' has state of operator '" + op.name
          + "' (uid '" + op.uid + "'), which this job does not have: give "
          + "the operator that should take it this uid, or allow dropping "
          + "the state (allow_non_restored_state)");
    }
    if (vertex_max != op.max_parallelism)
      throw checkpoint_error(
          "operator '" + match->name + "' (uid '" + op.uid
          + "') has max parallelism " + std::to_string(vertex_max)
          + " but checkpoint '" + cp.dir + "' was taken with "
          + std::to_string(op.max_parallelism)
          + ": keyed state is split into that many key groups; use the "
          + "same max parallelism");
  }
}

} // namespace libstream
