// The stock aggregator as a loadable module (build/apps/stock_aggregator.so):
// `streamctl run stock_aggregator.so -- ARGS` deploys the job its executable
// runs embedded, defined by the same entry point from the same arguments.
#include "libstream/app.hpp"
#include "stock/stock_job.hpp"

LIBSTREAM_APP("stock_aggregator", stock::define_app)
