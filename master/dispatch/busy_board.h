// rackd's side of an app's busy board (rack/busy_board.h): the file in
// /dev/shm, mapped read-write (workers write it; rackd reads it and
// zeroes nothing), created with the app and removed with it. Across an
// upgrade the new image maps the same file again (same pid, same path).
#pragma once

#include <memory>
#include <string>

#include "rack/busy_board.h"

namespace rack::master {

class BusyBoardFile {
 public:
  // nullptr (and `error`) when the file cannot be created or mapped: the
  // app then dispatches by connection counts alone.
  static std::unique_ptr<BusyBoardFile> create(const std::string& path, bool keep_contents, std::string& error);
  ~BusyBoardFile();
  BusyBoardFile(const BusyBoardFile&) = delete;
  BusyBoardFile& operator=(const BusyBoardFile&) = delete;

  const std::string& path() const { return path_; }
  const busy_board::Entry* entry(std::size_t index) const;

 private:
  BusyBoardFile(std::string path, void* map) : path_(std::move(path)), map_(map) {}
  std::string path_;
  void* map_;
};

}  // namespace rack::master
