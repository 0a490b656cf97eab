// `rackctl status`: the PM2 `ls` table, one row per worker.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rack::cli {

// How the table is drawn: on a terminal, colours (unless NO_COLOR is set,
// https://no-color.org) and a width the app and listen columns are cut to
// ("…") so a long name does not wrap every row. table_style() reads them
// from stdout and the environment; the default draws plain and uncut.
struct TableStyle {
  bool color = false;
  std::size_t columns = 0;  // 0: no limit
};
TableStyle table_style();

std::string render_status(const nlohmann::json& status, const TableStyle& style = {});
std::string human_bytes(uint64_t bytes);
std::string human_duration(double seconds);

}  // namespace rack::cli
