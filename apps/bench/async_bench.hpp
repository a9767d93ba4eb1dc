#pragma once

#include <cstdint>

namespace bench {

/// Pipeline 9: enrichment from a local redis-server (started here on a
/// free port): `records` lookups (GET of 1,000 keys) through the async
/// operator at capacity 1, 10, 100 and 1000, against the same lookups made
/// synchronously one by one. Prints records/s and the ratio to the
/// synchronous loop (medians of `repeat` runs).
void async_pipeline(uint64_t records, int repeat);

} // namespace bench
