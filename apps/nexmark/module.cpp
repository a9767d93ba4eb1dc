// The nexmark app as a loadable module (build/apps/nexmark.so): `streamctl
// run nexmark.so -- --query q5 --events N --output DIR` deploys the job its
// executable runs embedded.
#include "libstream/app.hpp"
#include "nexmark/nexmark_job.hpp"

LIBSTREAM_APP("nexmark", nexmark::define_app)
