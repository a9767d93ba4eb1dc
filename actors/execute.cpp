// stream_execution_environment::execute lives in the runtime library: the
// default executor is the embedded mini-cluster of actors.
#include "libstream/environment.hpp"

namespace libstream {

std::shared_ptr<job_client>
stream_execution_environment::execute_async(std::string job_name) {
  auto graph = std::make_shared<const job_graph>(builder_->plan());
  for (auto& node : builder_->nodes())
    if (node->on_submit)
      node->on_submit();
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
