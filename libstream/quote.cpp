#include "libstream/quote.hpp"

namespace libstream {

std::string quote_excerpt(std::string_view text, size_t max_chars) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  auto shown = text.substr(0, max_chars);
  for (char ch : shown) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\'':
        out += "\\'";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        }
    }
  }
  out += '\'';
  if (shown.size() < text.size())
    out += "... (" + std::to_string(text.size()) + " bytes in all)";
  return out;
}

} // namespace libstream
