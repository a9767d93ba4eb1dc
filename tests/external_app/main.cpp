// The executable: runs the app's entry point embedded, in this process.
#include "libstream/app.hpp"

void define_ticks(libstream::stream_execution_environment& env,
                  const libstream::app_args& args);

int main(int argc, char** argv) {
  return libstream::run_app_main(define_ticks, argc, argv);
}
