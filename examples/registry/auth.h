// Who may publish: tokens from auth.json, each with read and/or write rights.
//
//   {
//     "public_read": true,
//     "tokens": [
//       {"name": "ci", "token": "a long random string", "rights": ["read", "write"]},
//       {"name": "mirror", "token": "another long random string", "rights": ["read"]}
//     ]
//   }
//
// A client presents a token in `x-registry-token: <token>` or
// `Authorization: Bearer <token>`. PUT and DELETE need "write"; GET and HEAD
// need "read" only when "public_read" is false ("write" implies "read").
// Without an auth file the registry is read-only: every write is 403.
// Missing or unknown token: 401; known token without the right: 403.
//
// Keys starting with '_' are comments. Anything else unknown, a token
// shorter than 16 characters, a duplicate token or an unknown right is an
// error: the worker refuses to start rather than run with a policy nobody
// meant. Tokens are compared in constant time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rack/worker.h>

namespace registry {

enum class Right { Read, Write };

struct Token {
  std::string name;    // for logs; never the secret
  std::string secret;
  bool read = false;
  bool write = false;
};

class Auth {
 public:
  static std::optional<Auth> parse(std::string_view json_text, std::string& error);
  // Reads and parses `path` (blocking: at startup). Error names the file.
  static std::optional<Auth> load(const std::string& path, std::string& error);

  bool public_read() const { return public_read_; }
  const std::vector<Token>& tokens() const { return tokens_; }
  // The token whose secret equals `presented`, or nullptr.
  const Token* find(std::string_view presented) const;

 private:
  bool public_read_ = true;
  std::vector<Token> tokens_;
};

// The token a request presents; "" when none.
std::string_view presented_token(const std::vector<rack::Header>& headers);

struct AuthResult {
  int status = 0;          // 0: allowed; 401 or 403
  std::string message;
  const Token* token = nullptr;
};

// `auth` nullptr: no auth file, read-only registry.
AuthResult authorize(const Auth* auth, const std::vector<rack::Header>& headers, Right needed);

}  // namespace registry
