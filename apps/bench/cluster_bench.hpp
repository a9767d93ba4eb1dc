#pragma once

#include <cstdint>

namespace bench {

/// Pipeline 8: the stock aggregator's keyed-window job on the generator at
/// parallelism 2, deployed with streamctl to a coordinator and two node
/// processes of one slot each (so that half of the records cross a process
/// boundary, encoded), against the same job embedded. Prints records/s of
/// both and their ratio (medians of `repeat` interleaved runs).
void cluster_pipeline(uint64_t records, int repeat);

} // namespace bench
