#include "libstream/environment.hpp"

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

std::shared_ptr<job_client>
stream_execution_environment::execute_async(std::string job_name) {
  auto graph = std::make_shared<const job_graph>(builder_->plan());
  if (!executor_)
    executor_ = make_embedded_executor(builder_->config);
  return executor_->submit(std::move(graph), std::move(job_name));
}

job_result stream_execution_environment::execute(std::string job_name) {
  auto client = execute_async(std::move(job_name));
  auto result = client->wait();
  if (result.status == job_status::failed)
    throw job_failed("job '" + result.job_name + "' failed: " + result.error);
  return result;
}

} // namespace libstream
