#include "libstream/executor.hpp"

namespace libstream {

const char* to_string(job_status s) noexcept {
  switch (s) {
    case job_status::created:
      return "CREATED";
    case job_status::running:
      return "RUNNING";
    case job_status::finished:
      return "FINISHED";
    case job_status::canceled:
      return "CANCELED";
    case job_status::failed:
      return "FAILED";
  }
  return "?";
}

} // namespace libstream
