#include "libstream/state/kv_store.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include "libstream/file_io.hpp"
#include "libstream/state/state_backend.hpp"

namespace libstream {

std::string local_state_root(const state_backend_config& cfg) {
  if (!cfg.dir.empty())
    return cfg.dir;
  if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != 0)
    return tmp;
  return "/tmp";
}

struct kv_store::impl {
  std::string path;
  // Outlive the database, which uses them.
  std::unique_ptr<const leveldb::FilterPolicy> bloom;
  std::unique_ptr<leveldb::Cache> block_cache;
  std::unique_ptr<leveldb::DB> db;
  leveldb::WriteBatch batch;

  ~impl() {
    db.reset();
    // The database is a private cache of one attempt's state: gone with it.
    leveldb::DestroyDB(path, leveldb::Options{});
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0)
      ::rmdir(path.substr(0, slash).c_str()); // the job's, once empty
  }

  [[noreturn]] void fail(const char* what, const leveldb::Status& st) const {
    throw std::runtime_error(std::string{"LevelDB state in '"} + path
                             + "': " + what + ": " + st.ToString());
  }

  void check(const char* what, const leveldb::Status& st) const {
    if (!st.ok())
      fail(what, st);
  }

  void apply() {
    if (batch.ApproximateSize() <= leveldb::WriteBatch{}.ApproximateSize())
      return;
    check("write", db->Write(leveldb::WriteOptions{}, &batch));
    batch.Clear();
  }

  static void scan(leveldb::DB& db, const leveldb::ReadOptions& ro,
                   std::string_view first, std::string_view last,
                   const visitor& f, const impl& self) {
    std::unique_ptr<leveldb::Iterator> it{db.NewIterator(ro)};
    leveldb::Slice end{last.data(), last.size()};
    for (it->Seek(leveldb::Slice{first.data(), first.size()});
         it->Valid() && it->key().compare(end) < 0; it->Next()) {
      auto k = it->key();
      auto v = it->value();
      f(std::string_view{k.data(), k.size()},
        std::string_view{v.data(), v.size()});
    }
    self.check("scan", it->status());
  }
};

namespace {

leveldb::Slice slice(std::string_view s) {
  return leveldb::Slice{s.data(), s.size()};
}

class leveldb_snapshot final : public kv_store::snapshot {
public:
  explicit leveldb_snapshot(std::shared_ptr<kv_store::impl> db)
      : db_(std::move(db)), snap_(db_->db->GetSnapshot()) {}

  ~leveldb_snapshot() override { db_->db->ReleaseSnapshot(snap_); }

  void scan(std::string_view first, std::string_view last,
            const kv_store::visitor& f) const override {
    leveldb::ReadOptions ro;
    ro.snapshot = snap_;
    ro.fill_cache = false; // a full pass would evict the working set
    kv_store::impl::scan(*db_->db, ro, first, last, f, *db_);
  }

private:
  std::shared_ptr<kv_store::impl> db_; // keeps the database open
  const leveldb::Snapshot* snap_;
};

} // namespace

kv_store::kv_store(std::shared_ptr<impl> ptr) : impl_(std::move(ptr)) {}

kv_store::~kv_store() = default;

std::shared_ptr<kv_store> kv_store::open_fresh(const std::string& path) {
  // Another attempt's store may remove the (empty) job directory while
  // this one is created: try again then.
  for (int tries = 0;; ++tries) {
    try {
      return open_once(path);
    } catch (const std::exception&) {
      struct stat st {};
      if (tries >= 2 || ::stat(path.c_str(), &st) == 0)
        throw;
    }
  }
}

std::shared_ptr<kv_store> kv_store::open_once(const std::string& path) {
  create_directories(path);
  auto st = leveldb::DestroyDB(path, leveldb::Options{});
  if (!st.ok())
    throw std::runtime_error("LevelDB state in '" + path
                             + "': cannot remove the database there: "
                             + st.ToString());
  auto ptr = std::make_shared<impl>();
  ptr->path = path;
  // Point reads of keys that are not there (a key's first record) skip
  // the data blocks with a Bloom filter; reads of hot blocks come from a
  // block cache larger than LevelDB's default 8 MB.
  ptr->bloom.reset(leveldb::NewBloomFilterPolicy(10));
  ptr->block_cache.reset(leveldb::NewLRUCache(32 << 20));
  leveldb::Options opts;
  opts.create_if_missing = true;
  opts.error_if_exists = true;
  opts.write_buffer_size = 16 << 20;
  opts.filter_policy = ptr->bloom.get();
  opts.block_cache = ptr->block_cache.get();
  leveldb::DB* db = nullptr;
  st = leveldb::DB::Open(opts, path, &db);
  if (!st.ok())
    throw std::runtime_error("LevelDB state in '" + path
                             + "': cannot open: " + st.ToString());
  ptr->db.reset(db);
  return std::shared_ptr<kv_store>{new kv_store(std::move(ptr))};
}

const std::string& kv_store::path() const noexcept {
  return impl_->path;
}

bool kv_store::get(std::string_view key, std::string& value) {
  auto st = impl_->db->Get(leveldb::ReadOptions{}, slice(key), &value);
  if (st.IsNotFound())
    return false;
  impl_->check("read", st);
  return true;
}

void kv_store::put(std::string_view key, std::string_view value) {
  impl_->batch.Put(slice(key), slice(value));
}

void kv_store::erase(std::string_view key) {
  impl_->batch.Delete(slice(key));
}

size_t kv_store::pending_bytes() const noexcept {
  return impl_->batch.ApproximateSize();
}

void kv_store::write_pending() {
  impl_->apply();
}

void kv_store::scan(std::string_view first, std::string_view last,
                    const visitor& f) {
  impl_->apply();
  impl::scan(*impl_->db, leveldb::ReadOptions{}, first, last, f, *impl_);
}

void kv_store::erase_range(std::string_view first, std::string_view last) {
  impl_->apply();
  std::vector<std::string> keys;
  scan(first, last, [&keys](std::string_view k, std::string_view) {
    keys.emplace_back(k);
  });
  for (auto& k : keys)
    impl_->batch.Delete(k);
  impl_->apply();
}

std::shared_ptr<const kv_store::snapshot> kv_store::take_snapshot() {
  impl_->apply();
  return std::make_shared<leveldb_snapshot>(impl_);
}

size_t kv_store::remove_stale(const std::string& dir,
                              const std::string& prefix) {
  auto list = [](const std::string& d) {
    std::vector<std::string> names;
    if (DIR* h = ::opendir(d.c_str())) {
      while (auto* e = ::readdir(h)) {
        std::string n = e->d_name;
        if (n != "." && n != "..")
          names.push_back(std::move(n));
      }
      ::closedir(h);
    }
    return names;
  };
  size_t removed = 0;
  for (auto& name : list(dir)) {
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto job_dir = dir + "/" + name;
    for (auto& db : list(job_dir)) {
      auto path = job_dir + "/" + db;
      struct stat st {};
      if (::stat((path + "/CURRENT").c_str(), &st) != 0
          && ::stat((path + "/LOCK").c_str(), &st) != 0)
        continue; // not a LevelDB database
      // Fails on the lock while a process (this one too) has it open.
      if (leveldb::DestroyDB(path, leveldb::Options{}).ok()
          && ::stat(path.c_str(), &st) != 0)
        ++removed;
    }
    ::rmdir(job_dir.c_str());
  }
  return removed;
}

} // namespace libstream
