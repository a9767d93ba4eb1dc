#pragma once

// The libstream DataStream API in one include. Application code needs no
// CAF header; the CAF-facing entry points are in actors/embedded.hpp.

#include "libstream/async/async_io.hpp"
#include "libstream/broadcast.hpp"
#include "libstream/config.hpp"
#include "libstream/connected_streams.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/environment.hpp"
#include "libstream/executor.hpp"
#include "libstream/functions.hpp"
#include "libstream/joins.hpp"
#include "libstream/sinks/sink.hpp"
#include "libstream/sinks/sinks.hpp"
#include "libstream/sources/collection.hpp"
#include "libstream/sources/text.hpp"
#include "libstream/watermark_strategy.hpp"
#include "libstream/window/assigners.hpp"
#include "libstream/window/triggers.hpp"
#include "libstream/window/window.hpp"
#include "libstream/windowed_stream.hpp"
