// word_count as a loadable module (build/apps/word_count.so), for
// `streamctl run word_count.so -- ARGS`.
#include "libstream/app.hpp"
#include "wordcount/word_count_job.hpp"

LIBSTREAM_APP("word_count", wordcount::define_app)
